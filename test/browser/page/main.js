/* global document, fetch, window */
// Runs an exported graft classifier with onnxruntime-web. The model takes plain RGB pixels (0–255, NHWC, at the
// size in its graft.preprocess metadata) and normalises inside the graph, so the page only needs the resized,
// centre-cropped RGB bytes (the test server sends them; in an app, draw the image on a canvas at that size).
// Shows the predicted labels and leaves the raw outputs in window.graftResult for the test to read.
import * as ort from '/ort/ort.wasm.min.mjs';

const status = document.getElementById('status');

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function show(input, label, probability) {
  const figure = document.createElement('figure');
  const img = document.createElement('img');
  img.src = input.photo;
  img.alt = input.name;
  const caption = document.createElement('figcaption');
  caption.innerHTML = `<span class="label"></span> <span class="p"></span><br><small></small>`;
  caption.querySelector('.label').textContent = label;
  caption.querySelector('.p').textContent = `${(probability * 100).toFixed(1)} %`;
  caption.querySelector('small').textContent = input.name;
  figure.append(img, caption);
  document.getElementById('results').append(figure);
}

async function run() {
  const manifest = await (await fetch('manifest.json')).json();
  // Threads need SharedArrayBuffer, i.e. cross-origin isolation, which this page does not ask for.
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = '/ort/';
  const session = await ort.InferenceSession.create('model.onnx', { executionProviders: ['wasm'] });
  const results = [];
  for (const input of manifest.inputs) {
    const rgb = new Uint8Array(await (await fetch(input.pixels)).arrayBuffer());
    const data = Float32Array.from(rgb);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, manifest.dims) });
    const probabilities = Array.from(out.probabilities.data);
    const logits = Array.from(out.logits.data);
    const best = argmax(probabilities);
    show(input, manifest.labels[best], probabilities[best]);
    results.push({ name: input.name, probabilities, logits });
  }
  status.textContent = `${results.length} images classified in the browser (${session.inputNames[0]} → ${session.outputNames.join(', ')})`;
  return { results };
}

run().then(
  (result) => { window.graftResult = result; },
  (error) => {
    status.className = 'error';
    status.textContent = String(error && error.stack ? error.stack : error);
    window.graftResult = { error: status.textContent };
  },
);
