/** Explore panel: feature maps of a layer, a dreamed class forming step by step, and a targeted attack with transfer. */
import { fillRunSelect } from './try.js';
import { $, api, enc, followJob, h, pct, postBlob, postJson, report, say } from './util.js';
import { state } from './state.js';

interface ClassReport { index: number; label: string; probability: number }

const run = () => ($('#explore-run') as HTMLSelectElement).value;
const base = () => `/api/projects/${enc(state.project!.id)}/runs/${enc(run())}`;
const imageFile = () => {
  const f = ($('#explore-file') as HTMLInputElement).files?.[0];
  if (!f) throw new Error('choose an image first');
  return f;
};

export function renderExplore(): void {
  fillRunSelect($('#explore-run') as HTMLSelectElement);
  fillRunSelect($('#attack-transfer') as HTMLSelectElement, true);
  const classes = state.project?.classes.map((c) => c.name) ?? [];
  for (const sel of ['#dream-class', '#attack-target']) {
    const s = $(sel) as HTMLSelectElement;
    const current = s.value;
    s.replaceChildren(...classes.map((c) => h('option', { value: c }, c)));
    if (classes.includes(current)) s.value = current;
  }
  void loadLayers().catch(() => {});
}

let layersFor = '';
async function loadLayers(): Promise<void> {
  if (!run() || layersFor === base()) return;
  layersFor = base();
  const layers = await api<{ name: string; shape: string }[]>(`${base()}/layers`);
  const spatial = layers.filter((l) => l.shape.split(/[×x,]/).length >= 3);
  ($('#layer') as HTMLSelectElement).replaceChildren(...(spatial.length ? spatial : layers).map((l) => h('option', { value: l.name }, `${l.name} ${l.shape}`)));
}

async function showFeatures(): Promise<void> {
  await loadLayers();
  const layer = ($('#layer') as HTMLSelectElement).value;
  say(`feature maps of ${layer}…`);
  const r = await postBlob<{ channels: number; grid: string }>(`${base()}/features?layer=${enc(layer)}`, imageFile());
  ($('#features-img') as HTMLImageElement).src = r.grid;
  say(`${layer}: first ${Math.min(32, r.channels)} of ${r.channels} channels`);
}

async function startDream(): Promise<void> {
  const cls = ($('#dream-class') as HTMLSelectElement).value;
  const steps = Number(($('#dream-steps') as HTMLInputElement).value);
  const { job } = await postJson<{ job: string }>(`${base()}/dream`, { class: cls, steps });
  const img = $('#dream-img') as HTMLImageElement;
  const caption = $('#dream-caption');
  const end = await followJob(job, (e) => {
    if (e.type === 'frame') { img.src = e.image; caption.textContent = `step ${e.step}`; }
  });
  if (end.type === 'done') {
    const r = end.result as { label: string; probability: number; image: string };
    img.src = r.image;
    img.dataset.done = 'true';
    caption.textContent = `${r.label}: the model gives this image ${pct(r.probability)}`;
  } else if (end.type === 'failed') report(new Error(`dream failed: ${end.message}`));
}

async function startAttack(): Promise<void> {
  const target = ($('#attack-target') as HTMLSelectElement).value;
  const transfer = ($('#attack-transfer') as HTMLSelectElement).value;
  const { job } = await postBlob<{ job: string }>(`${base()}/attack?target=${enc(target)}${transfer ? `&transfer=${enc(transfer)}` : ''}`, imageFile());
  say('attacking (PGD, L∞ ε = 8 pixel levels)…');
  const end = await followJob(job, () => {});
  if (end.type !== 'done') {
    if (end.type === 'failed') report(new Error(`attack failed: ${end.message}`));
    return;
  }
  const r = end.result as {
    original: ClassReport; adversarial: ClassReport; success: boolean; linf: number; psnr: number;
    transfer?: ClassReport & { fooled: boolean; original: ClassReport };
    images: { original: string; adversarial: string; difference: string };
  };
  const fig = (src: string, caption: string, id: string) => h('figure', {}, h('img', { src, alt: caption, id }), h('figcaption', {}, caption));
  $('#attack-result').replaceChildren(
    fig(r.images.original, `original: ${r.original.label} ${pct(r.original.probability)}`, 'attack-original'),
    fig(r.images.adversarial, `adversarial: ${r.adversarial.label} ${pct(r.adversarial.probability)}`, 'attack-adversarial'),
    fig(r.images.difference, `difference ×10 (L∞ ${r.linf}, PSNR ${r.psnr.toFixed(1)} dB)`, 'attack-difference'),
    h('p', { class: 'attack-summary' }, r.success ? `The model now says "${r.adversarial.label}".` : 'The attack did not reach the target.',
      r.transfer ? ` Second model: ${r.transfer.original.label} → ${r.transfer.label} (${pct(r.transfer.probability)}), ${r.transfer.fooled ? 'fooled too' : 'not fooled'}.` : ''),
  );
  say('attack finished');
}

export function setupExplore(): void {
  $('#explore-run').addEventListener('change', () => void loadLayers().catch(report));
  $('#features-go').addEventListener('click', () => void showFeatures().catch(report));
  $('#dream-go').addEventListener('click', () => void startDream().catch(report));
  $('#attack-go').addEventListener('click', () => void startAttack().catch(report));
}
