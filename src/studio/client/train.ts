/** Train panel: backbones, head, fine-tune; live progress bar and curves; cancel; finished runs with their report. */
import { drawChart, type Series } from './chart.js';
import { $, api, enc, followJob, h, pct, postJson, report, say, type JobEvent } from './util.js';
import { state } from './state.js';

interface Epoch { run: string; epoch: number; trainLoss: number; trainAcc: number; valLoss?: number; valAcc?: number }

let models: { name: string; description: string; local: boolean; available: boolean }[] = [];

export async function setupTrain(refresh: () => Promise<void>): Promise<void> {
  models = await api('/api/models');
  const list = $('#backbones');
  list.replaceChildren(...models.map((m, i) =>
    h('label', { class: m.available ? 'check' : 'check unavailable', title: m.description },
      h('input', { type: 'checkbox', name: 'backbone', value: m.name, checked: i === 0, disabled: !m.available }), ` ${m.name}${m.local ? '' : ' (downloads on first use)'}`)));
  $('#train-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void startTraining(refresh).catch(report);
  });
}

async function startTraining(refresh: () => Promise<void>): Promise<void> {
  const p = state.project;
  if (!p) return;
  const form = $('#train-form') as HTMLFormElement;
  const backbones = Array.from(form.querySelectorAll<HTMLInputElement>('input[name=backbone]:checked')).map((i) => i.value);
  const body = {
    backbones,
    head: (form.elements.namedItem('head') as HTMLSelectElement).value,
    fineTune: (form.elements.namedItem('fineTune') as HTMLInputElement).checked,
    epochs: Number((form.elements.namedItem('epochs') as HTMLInputElement).value),
  };
  const { job } = await postJson<{ job: string }>(`/api/projects/${enc(p.id)}/train`, body);
  await watchTraining(job, refresh);
}

/** Draws a training job's events; also used when the page reopens a project whose job is still running. */
export async function watchTraining(job: string, refresh: () => Promise<void>): Promise<void> {
  const bar = $('#progress') as HTMLProgressElement;
  const label = $('#progress-label');
  const log = $('#train-log');
  const cancel = $('#cancel') as HTMLButtonElement;
  const epochs: Epoch[] = [];
  log.textContent = '';
  cancel.disabled = false;
  cancel.onclick = () => void postJson(`/api/jobs/${enc(job)}/cancel`, {}).catch(report);
  ($('#train-button') as HTMLButtonElement).disabled = true;
  say('training…');
  const onEvent = (e: JobEvent) => {
    if (e.type === 'progress') {
      bar.max = e.total ?? 1;
      bar.value = e.total ? e.done : 0;
      label.textContent = `${e.label}: ${e.done}${e.total ? ` / ${e.total}` : ''} ${e.unit ?? ''} ${e.status ?? ''}`;
    } else if (e.type === 'epoch') {
      epochs.push(e);
      drawCurves(epochs);
    } else if (e.type === 'log') {
      log.textContent += `${e.line}\n`;
      log.scrollTop = log.scrollHeight;
    }
  };
  const end = await followJob(job, onEvent);
  cancel.disabled = true;
  ($('#train-button') as HTMLButtonElement).disabled = false;
  if (end.type === 'failed') report(new Error(`training failed: ${end.message}`));
  else say(end.type === 'cancelled' ? 'training cancelled' : 'training finished');
  await refresh();
  const last = state.project?.runs.at(-1);
  if (end.type === 'done' && last) await showRun(last.id);
}

function drawCurves(epochs: Epoch[]): void {
  const runs = [...new Set(epochs.map((e) => e.run))];
  const palette = ['#2563eb', '#db2777', '#059669', '#d97706'];
  const series = (key: 'trainLoss' | 'valLoss' | 'trainAcc' | 'valAcc', dashed: boolean): Series[] => runs.map((r, i) => ({
    name: runs.length > 1 ? `val ${i + 1}` : 'val',
    colour: palette[i % palette.length], dashed,
    points: epochs.filter((e) => e.run === r && typeof e[key] === 'number').map((e) => [e.epoch, e[key] as number] as [number, number]),
  }));
  drawChart($('#loss-chart') as unknown as SVGSVGElement, 'loss', [...series('trainLoss', true), ...series('valLoss', false)]);
  drawChart($('#acc-chart') as unknown as SVGSVGElement, 'accuracy', [...series('trainAcc', true), ...series('valAcc', false)], [0, 1]);
}

export function renderRuns(): void {
  const p = state.project;
  const list = $('#runs');
  list.replaceChildren();
  if (!p) return;
  for (const r of [...p.runs].reverse()) {
    list.append(h('li', {},
      h('button', { class: 'link', onclick: () => void showRun(r.id).catch(report) }, r.id),
      ` ${r.backbone}, ${r.head}${r.fineTune ? ', fine-tuned' : ''} — `,
      h('span', { class: `run-status ${r.status}` }, r.status === 'done' ? `accuracy ${pct(r.accuracy)}` : r.status)));
  }
}

/** The result view: accuracy, the run's report.html in a sandboxed frame (or report.json's numbers), model download. */
export async function showRun(id: string): Promise<void> {
  const p = state.project;
  if (!p) return;
  const { run, report: rep, files } = await api<{ run: { id: string; status: string; accuracy?: number | null; error?: string }; report?: Record<string, unknown>; files: string[] }>(
    `/api/projects/${enc(p.id)}/runs/${enc(id)}`);
  const base = `/api/projects/${enc(p.id)}/runs/${enc(id)}/files/`;
  const box = $('#run-result');
  box.replaceChildren(
    h('h3', {}, `Run ${run.id}`),
    h('p', { class: 'accuracy' }, 'validation accuracy ', h('strong', { id: 'run-accuracy' }, pct(run.accuracy)), run.error ? ` — ${run.error}` : ''),
  );
  if (files.includes('model.onnx')) box.append(h('a', { href: `${base}model.onnx`, download: `${run.id}.onnx`, class: 'button' }, 'Download model.onnx'));
  if (files.includes('report.html')) {
    box.append(h('iframe', { src: `${base}report.html`, class: 'report', title: 'training report', sandbox: 'allow-scripts' }));
  } else if (rep) {
    const val = (rep.val ?? rep.fineTuned ?? {}) as { accuracy?: number; top3?: number; loss?: number; n?: number };
    box.append(h('table', { class: 'numbers' },
      h('tr', {}, h('th', {}, 'accuracy'), h('td', {}, pct(val.accuracy))),
      h('tr', {}, h('th', {}, 'top-3'), h('td', {}, pct(val.top3))),
      h('tr', {}, h('th', {}, 'loss'), h('td', {}, typeof val.loss === 'number' ? val.loss.toFixed(4) : '–')),
      h('tr', {}, h('th', {}, 'validation images'), h('td', {}, String(val.n ?? '–')))));
    for (const img of ['curves.png', 'confusion.png']) if (files.includes(img)) box.append(h('img', { src: base + img, alt: img, class: 'plot' }));
  }
}
