/** Scaling out: plan → shards (array jobs on Slurm, Kubernetes, AWS Batch) → status → merge. */
export { planExtract, planPredict, readPlan, shardRange, PLAN_FILE, type Plan, type LoadedPlan, type ExtractPlanOptions, type PlanOptions } from './plan.js';
export { runShard, resolveShardIndex, INDEX_VARIABLES, FAIL_SHARDS_VARIABLE, type ShardResult } from './shard.js';
export { planStatus, arraySpec, type PlanStatus, type ShardStatus } from './status.js';
export { mergePlan, loadMergedFeatures, MERGED_DIR, type MergeResult, type MergedFeatures } from './merge.js';
export { emitSlurm, slurmScript, type SlurmOptions } from './emit-slurm.js';
export { emitK8s, k8sYaml, k8sDocuments, type K8sOptions } from './emit-k8s.js';
export { shardDir, MARKER_FILE, type DoneMarker, type ShardFailure } from './marker.js';
