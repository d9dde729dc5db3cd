/** Try-it panel: an uploaded image or a webcam frame, classified in the browser; Grad-CAM from the server. */
import { BrowserClassifier, type Contract } from './infer.js';
import { $, api, enc, h, pct, postBlob, report, say } from './util.js';
import { doneRuns, state } from './state.js';

declare global {
  interface Window {
    /** The last in-browser result, for tests and the curious: labels and probabilities as onnxruntime-web computed them. */
    graftTry?: { run: string; labels: string[]; probabilities: number[]; logits?: number[] };
  }
}

let loaded: { key: string; classifier: BrowserClassifier } | undefined;
let stream: MediaStream | undefined;

async function classifierFor(run: string): Promise<BrowserClassifier> {
  const p = state.project!;
  const key = `${p.id}/${run}`;
  if (loaded?.key === key) return loaded.classifier;
  const base = `/api/projects/${enc(p.id)}/runs/${enc(run)}`;
  const contract = await api<Contract>(`${base}/contract`);
  loaded = { key, classifier: await BrowserClassifier.load(`${base}/files/model.onnx`, contract) };
  return loaded.classifier;
}

export function renderTry(): void {
  fillRunSelect($('#try-run') as HTMLSelectElement);
}

export function fillRunSelect(select: HTMLSelectElement, skipFirst = false): void {
  const runs = doneRuns();
  const current = select.value;
  select.replaceChildren(...(skipFirst ? [h('option', { value: '' }, '(none)')] : []),
    ...runs.map((r) => h('option', { value: r.id }, `${r.id} (${pct(r.accuracy)})`)));
  if (runs.some((r) => r.id === current)) select.value = current;
  else if (runs.length && !skipFirst) select.value = runs[runs.length - 1].id;
}

async function classify(blob: Blob): Promise<void> {
  const run = ($('#try-run') as HTMLSelectElement).value;
  if (!run) throw new Error('train a model first');
  const preview = $('#try-preview') as HTMLImageElement;
  preview.src = URL.createObjectURL(blob);
  // The server crops the file exactly as `graft predict` does (sharp: EXIF orientation, resize, centre crop) and
  // adds Grad-CAM; the browser then runs the model on that network-size crop, so both see the same pixels (a
  // canvas resamples differently from sharp). Webcam snapshots take the same path.
  say('cropping as graft does, Grad-CAM on the server…');
  const cam = await postBlob<{ label: string; probability: number; crop: string; overlay: string }>(
    `/api/projects/${enc(state.project!.id)}/runs/${enc(run)}/explain`, blob);
  ($('#try-cam') as HTMLImageElement).src = cam.overlay;
  const crop = new Image();
  crop.src = cam.crop;
  await crop.decode();
  say('classifying in the browser…');
  const classifier = await classifierFor(run);
  const { probabilities, logits } = await classifier.classify(await createImageBitmap(crop));
  show(run, classifier, probabilities, logits);
  const labels = classifier.contract.labels;
  const top = probabilities.indexOf(Math.max(...probabilities));
  say(`in-browser prediction: ${labels[top]} (${pct(probabilities[top])}); Grad-CAM shows where "${cam.label}" is seen`);
}

/** Draws the probability bars and publishes the result on window.graftTry. */
function show(run: string, classifier: BrowserClassifier, probabilities: number[], logits?: number[]): void {
  const labels = classifier.contract.labels;
  window.graftTry = { run, labels, probabilities, logits };
  const order = labels.map((_, i) => i).sort((a, b) => probabilities[b] - probabilities[a]);
  $('#try-probs').replaceChildren(...order.map((i) => {
    const fill = h('span', { class: 'fill' });
    // Set through CSSOM: the page's CSP refuses style attributes.
    fill.style.width = `${(probabilities[i] * 100).toFixed(1)}%`;
    return h('div', { class: 'prob', 'data-label': labels[i] },
      h('span', { class: 'prob-label' }, labels[i]), h('span', { class: 'bar' }, fill), h('span', { class: 'prob-value' }, pct(probabilities[i])));
  }));
}

export function setupTry(): void {
  const file = $('#try-file') as HTMLInputElement;
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (f) void classify(f).catch(report);
  });
  const video = $('#webcam') as HTMLVideoElement;
  $('#webcam-start').addEventListener('click', () => {
    void (async () => {
      stream ??= await navigator.mediaDevices.getUserMedia({ video: true });
      video.srcObject = stream;
      await video.play();
      video.hidden = false;
      ($('#webcam-snap') as HTMLButtonElement).disabled = false;
    })().catch(report);
  });
  $('#webcam-snap').addEventListener('click', () => {
    const c = document.createElement('canvas');
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    c.getContext('2d')!.drawImage(video, 0, 0);
    c.toBlob((b) => { if (b) void classify(b).catch(report); }, 'image/png');
  });
}
