/**
 * report.html: one self-contained page per run. Charts are vega-lite rendered to SVG here and inlined as data:
 * URIs, thumbnails are data: JPEGs, the CSS is inline: the file opens from file:// with no network at all.
 */
import type { RunReport, SplitMetrics } from './schema.js';
import { shownSplit } from './schema.js';

export interface HtmlAssets {
  /** SVG text of the training curves. */
  curvesSvg?: string;
  /** SVG text of the confusion matrix of the shown split (test, else validation). */
  confusionSvg?: string;
  /** data: URI of each top loss of the shown split, in order (undefined: unreadable now). */
  thumbnails?: (string | undefined)[];
}

const esc = (v: unknown): string => String(v).replace(/[<>&'"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&quot;' })[ch]!);
const pct = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '–' : `${(x * 100).toFixed(2)}%`);
const num = (x: number | undefined, digits = 4): string => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));
const svgUri = (svg: string): string => `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;

/** POSIX shell quoting, so the command line can be pasted back into a terminal. */
export function shellQuote(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

const MODE_TITLE: Record<RunReport['mode'], string> = {
  frozen: 'head on frozen features',
  'fine-tune': 'fine-tuned',
  scratch: 'trained from scratch',
  eval: 'evaluation',
};

function metricCards(report: RunReport): string {
  const rows: [string, SplitMetrics | undefined][] = [
    ['validation', report.val], ['test', report.test], ['train', report.train],
    ['frozen head · validation', report.frozen?.val], ['frozen head · test', report.frozen?.test],
  ];
  const cards = rows.filter((r): r is [string, SplitMetrics] => !!r[1]).map(([name, m]) => `
    <div class="card" data-split="${esc(name)}">
      <h3>${esc(name)} <small>${m.n} images</small></h3>
      <div class="big accuracy">${pct(m.accuracy)}</div><div class="label">accuracy</div>
      <dl><dt>top-3</dt><dd>${pct(m.top3)}</dd><dt>loss</dt><dd>${num(m.loss)}</dd><dt>macro F1</dt><dd>${num(m.perClass.macro.f1)}</dd></dl>
    </div>`);
  return cards.length ? `<div class="cards">${cards.join('')}</div>` : '<p>No split was scored.</p>';
}

/** Four significant digits for fractional numbers (0.9849999999 → 0.985); everything else as it is. */
const short = (v: unknown): unknown => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v);

function keyValues(obj: Record<string, unknown>): string {
  const cell = (v: unknown): string => {
    if (v === undefined || v === null) return '–';
    if (Array.isArray(v) && v.every((x) => typeof x !== 'object')) return esc(v.map(short).join(', ') || '–');
    // A list of records (e.g. the cross-validation scores) reads best as one small table.
    if (Array.isArray(v) && v.length && v.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x))) {
      const keys = [...new Set(v.flatMap((x) => Object.keys(x as object)))];
      const row = (x: Record<string, unknown>) => `<tr>${keys.map((k) => `<td>${cell(x[k])}</td>`).join('')}</tr>`;
      return `<table class="grid"><thead><tr>${keys.map((k) => `<th>${esc(k)}</th>`).join('')}</tr></thead><tbody>${v.map((x) => row(x as Record<string, unknown>)).join('')}</tbody></table>`;
    }
    if (Array.isArray(v)) return v.map((x) => cell(x)).join('');
    if (typeof v === 'object') return keyValues(v as Record<string, unknown>);
    return esc(short(v));
  };
  const rows = Object.entries(obj).filter(([, v]) => v !== undefined);
  if (!rows.length) return '–';
  return `<table class="kv">${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${cell(v)}</td></tr>`).join('')}</table>`;
}

function perClassTable(m: SplitMetrics, classes: string[]): string {
  const p = m.perClass;
  const rows = classes.map((c, i) => `<tr><td>${esc(c)}</td><td>${num(p.precision[i])}</td><td>${num(p.recall[i])}</td><td>${num(p.f1[i])}</td><td>${p.support[i]}</td></tr>`);
  const avg = (name: string, a: { precision: number; recall: number; f1: number }) => `<tr class="avg"><td>${name}</td><td>${num(a.precision)}</td><td>${num(a.recall)}</td><td>${num(a.f1)}</td><td>${m.n}</td></tr>`;
  return `<table class="grid perclass"><thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr></thead>
    <tbody>${rows.join('')}${avg('macro avg', p.macro)}${avg('weighted avg', p.weighted)}</tbody></table>`;
}

function topLossesSection(m: SplitMetrics, thumbs: (string | undefined)[]): string {
  if (!m.topLosses.length) return '';
  const items = m.topLosses.map((t, i) => `
    <figure class="${t.actual === t.predicted ? 'right' : 'wrong'}">
      ${thumbs[i] ? `<img src="${thumbs[i]}" alt="${esc(t.path)}">` : '<div class="missing">unreadable now</div>'}
      <figcaption><b>${esc(t.actual)}</b> → ${esc(t.predicted)}<br>p=${t.probability.toFixed(2)} · loss ${t.loss.toFixed(2)}<br><span class="path" title="${esc(t.path)}">${esc(t.path.split(/[\\/]/).pop())}</span></figcaption>
    </figure>`);
  return `<section id="top-losses"><h2>Top losses</h2><p class="hint">The images the model got most wrong: actual → predicted, the probability it gave its prediction, and the cross-entropy loss.</p><div class="losses">${items.join('')}</div></section>`;
}

const CSS = `
:root { --fg:#1d2430; --muted:#5d6778; --line:#e3e7ee; --accent:#1f6feb; --bad:#c93c37; --good:#1a7f37; --bg:#f6f8fb; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color:var(--fg); background:var(--bg); }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
header { border-bottom: 1px solid var(--line); margin-bottom: 16px; }
h1 { font-size: 24px; margin: 0 0 4px; } h1 small { color: var(--muted); font-weight: normal; font-size: 16px; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 0 0 6px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); } h3 small { text-transform:none; letter-spacing:0; }
section { background: white; border: 1px solid var(--line); border-radius: 8px; padding: 4px 18px 16px; margin: 16px 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { background: white; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; min-width: 200px; max-width: 320px; flex: 1; }
.big { font-size: 32px; font-weight: 600; color: var(--accent); line-height: 1.1; } .label { color: var(--muted); font-size: 13px; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; margin: 8px 0 0; } dt { color: var(--muted); } dd { margin: 0; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.grid th, table.grid td { padding: 4px 12px; border-bottom: 1px solid var(--line); text-align: right; } table.grid th:first-child, table.grid td:first-child { text-align: left; }
table.grid tr.avg td { font-weight: 600; }
table.kv th { text-align: left; color: var(--muted); font-weight: normal; padding: 2px 12px 2px 0; vertical-align: top; } table.kv td { padding: 2px 0; }
table.kv table.kv { font-size: 13px; }
.charts img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.losses { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 176px; border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: white; }
figure img { width: 160px; height: 160px; object-fit: contain; background: #f0f2f5; display: block; }
figure.wrong { border-color: #f1c4c2; } figure.wrong figcaption b { color: var(--bad); }
figcaption { font-size: 12px; margin-top: 6px; } .path { color: var(--muted); word-break: break-all; }
.missing { width:160px; height:160px; display:flex; align-items:center; justify-content:center; color:var(--muted); background:#f0f2f5; }
pre { background: #0d1117; color: #e6edf3; padding: 12px 14px; border-radius: 6px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
ul.skipped { font-size: 13px; } ul.skipped code { color: var(--muted); }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 0 16px; } .pair > section { margin: 8px 0; min-width: 0; }
table.kv td { word-break: break-all; }
.hint { color: var(--muted); font-size: 13px; margin-top: 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
`;

/** The page's HTML (self-contained; see the module comment). */
export function renderReportHtml(report: RunReport, assets: HtmlAssets = {}): string {
  const shown = shownSplit(report);
  const ds = report.dataset;
  const title = `graft · ${MODE_TITLE[report.mode]}`;
  const confused = shown?.metrics.mostConfused ?? [];
  const skipped = report.skipped;
  const SKIPPED_SHOWN = 200;
  const parts: string[] = [];
  parts.push(`<header><h1>${esc(title)} <small>${esc(ds.root)}</small></h1>
    <p class="hint">${report.classes.length} classes · schema ${report.schemaVersion}${report.interrupted ? ' · <b>interrupted</b>' : ''}</p></header>`);
  parts.push(`<section id="metrics"><h2>Results</h2>${metricCards(report)}${report.mode !== 'eval' ? '<p class="hint">Selection (best epoch, head) looks only at validation; test is never used to choose.</p>' : ''}</section>`);
  if (assets.curvesSvg || assets.confusionSvg) {
    parts.push(`<section id="charts" class="charts"><h2>Curves and confusion matrix</h2>
      ${assets.curvesSvg ? `<img id="curves" alt="training curves: loss and accuracy per epoch, or per weight decay for a cross-validated head" src="${svgUri(assets.curvesSvg)}">` : ''}
      ${assets.confusionSvg ? `<img id="confusion" alt="confusion matrix" src="${svgUri(assets.confusionSvg)}">` : ''}</section>`);
  }
  parts.push('<div class="pair">');
  parts.push(`<section id="dataset"><h2>Dataset</h2>${keyValues({ root: ds.root, layout: ds.layout, images: ds.counts, classes: report.classes.join(', ') })}
    ${ds.notes.length ? `<ul>${ds.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}</section>`);
  parts.push(`<section id="selected"><h2>What was selected and used</h2>${keyValues(report.selected as unknown as Record<string, unknown>)}</section>`);
  parts.push('</div>');
  if (shown) {
    parts.push('<div class="pair">');
    parts.push(`<section id="per-class"><h2>Per class (${esc(shown.name)})</h2>${perClassTable(shown.metrics, report.classes)}</section>`);
    parts.push(`<section id="most-confused"><h2>Most confused (${esc(shown.name)})</h2>${confused.length
      ? `<table class="grid"><thead><tr><th>actual</th><th>predicted</th><th>images</th></tr></thead><tbody>${confused.map(([a, p, n]) => `<tr><td>${esc(a)}</td><td>${esc(p)}</td><td>${n}</td></tr>`).join('')}</tbody></table>`
      : '<p>No image was confused.</p>'}</section>`);
    parts.push('</div>');
    parts.push(topLossesSection(shown.metrics, assets.thumbnails ?? []));
  }
  parts.push(`<section id="skipped"><h2>Skipped files (${skipped.length})</h2>${skipped.length
    ? `<ul class="skipped">${skipped.slice(0, SKIPPED_SHOWN).map((s) => `<li><code>${esc(s.path)}</code>: ${esc(s.reason)}</li>`).join('')}</ul>${skipped.length > SKIPPED_SHOWN ? `<p class="hint">… and ${skipped.length - SKIPPED_SHOWN} more in report.json</p>` : ''}`
    : '<p>None: every image was read.</p>'}</section>`);
  parts.push('<div class="pair">');
  parts.push(`<section id="timing"><h2>Timing</h2>${keyValues(Object.fromEntries(Object.entries(report.timing).map(([k, v]) => [k, typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : v])))}</section>`);
  parts.push(`<section id="command"><h2>Reproduce</h2>${report.command ? `<pre>${esc(shellQuote(report.command))}</pre>` : '<p>This run came from the library; no command line was given.</p>'}
    ${keyValues(report.files as Record<string, unknown>)}</section>`);
  parts.push('</div>');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><main>${parts.join('\n')}<footer>Written by graft. Everything on this page is inside this one file.</footer></main></body></html>
`;
}
