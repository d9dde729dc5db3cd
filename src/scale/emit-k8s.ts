/**
 * P/k8s-job.yaml: an Indexed Job (one pod per shard index, JOB_COMPLETION_INDEX → `graft shard P --index auto`) and a
 * second Job that waits for `graft status` to report the plan complete, then merges. Both mount one shared volume at
 * the same path, so the plan's absolute paths hold inside the pods.
 */
import path from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../util/fsutil.js';
import type { LoadedPlan } from './plan.js';

export interface K8sOptions {
  /** Container image with graft installed (`graft` on PATH) and the model reachable. */
  image?: string;
  parallelism?: number;
  /** Retries of one index before it is marked failed (the other indexes go on). */
  backoffLimitPerIndex?: number;
  /** PersistentVolumeClaim (ReadWriteMany) holding the plan folder and the images. */
  claim?: string;
  /** Where the claim is mounted; default: the deepest folder holding both the plan and the images. */
  mountPath?: string;
  cpu?: string;
  memory?: string;
}

function commonAncestor(a: string, b: string): string {
  const pa = path.resolve(a).split(path.sep);
  const pb = path.resolve(b).split(path.sep);
  let i = 0;
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++;
  return pa.slice(0, i).join(path.sep) || path.sep;
}

/** Kubernetes names: lower-case alphanumerics and '-', at most 63 characters. */
function jobName(p: LoadedPlan): string {
  return `graft-${p.plan.kind}-${p.hash.slice(0, 10)}`;
}

export function k8sDocuments(p: LoadedPlan, opts: K8sOptions = {}): Record<string, unknown>[] {
  const image = opts.image ?? 'graft:latest';
  const mountPath = opts.mountPath ?? commonAncestor(p.dir, p.plan.root);
  const volume = { name: 'graft-data', persistentVolumeClaim: { claimName: opts.claim ?? 'graft-data' } };
  const mount = { name: 'graft-data', mountPath };
  const env = [
    { name: 'GRAFT_THREADS', value: '1' },
    ...(process.env.GRAFT_MODELS ? [{ name: 'GRAFT_MODELS', value: process.env.GRAFT_MODELS }] : []),
  ];
  const resources = { requests: { cpu: opts.cpu ?? '1', memory: opts.memory ?? '2Gi' } };
  const name = jobName(p);
  const shards = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `${name}-shards`, labels: { app: 'graft', 'graft/plan': p.hash.slice(0, 12) } },
    spec: {
      completionMode: 'Indexed',
      completions: p.plan.shards,
      parallelism: Math.min(opts.parallelism ?? p.plan.shards, p.plan.shards),
      // Per-index retries (Kubernetes ≥ 1.29): a failing shard does not stop the others; it is retried on its own.
      backoffLimitPerIndex: opts.backoffLimitPerIndex ?? 2,
      maxFailedIndexes: p.plan.shards,
      template: {
        metadata: { labels: { app: 'graft', 'graft/plan': p.hash.slice(0, 12) } },
        spec: {
          restartPolicy: 'Never',
          containers: [{
            name: 'shard', image,
            command: ['graft', 'shard', p.dir, '--index', 'auto'],
            env, resources, volumeMounts: [mount],
          }],
          volumes: [volume],
        },
      },
    },
  };
  const merge = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: `${name}-merge`, labels: { app: 'graft', 'graft/plan': p.hash.slice(0, 12) } },
    spec: {
      backoffLimit: 2,
      // Gives up if the shards never complete (e.g. an index exhausted its retries): rerun those indexes, then the merge.
      activeDeadlineSeconds: 7 * 24 * 3600,
      template: {
        metadata: { labels: { app: 'graft', 'graft/plan': p.hash.slice(0, 12) } },
        spec: {
          restartPolicy: 'OnFailure',
          containers: [{
            name: 'merge', image,
            // `graft status` exits 0 when every shard is done and 3 while some are missing.
            command: ['sh', '-c', `until graft status '${p.dir}' >/dev/null; do sleep 30; done; exec graft merge '${p.dir}'`],
            env, resources, volumeMounts: [mount],
          }],
          volumes: [volume],
        },
      },
    },
  };
  return [shards, merge];
}

export function k8sYaml(p: LoadedPlan, opts: K8sOptions = {}): string {
  const header = `# graft plan ${p.plan.kind}: ${p.plan.images} images in ${p.plan.shards} shards. Written by \`graft plan\`.\n` +
    `# kubectl apply -f k8s-job.yaml  — the volume must hold ${p.dir} and ${p.plan.root} at the same paths as here.\n`;
  return header + k8sDocuments(p, opts).map((d) => stringify(d)).join('---\n');
}

export async function emitK8s(p: LoadedPlan, opts: K8sOptions = {}): Promise<string> {
  const file = path.join(p.dir, 'k8s-job.yaml');
  await writeFileAtomic(file, k8sYaml(p, opts));
  return file;
}
