/** Terminal summary of a run's report (train in any mode, eval): the same lines for every mode. */
import { formatClassificationReport } from '../report/metrics.js';
import { shownSplit, type RunReport, type SplitMetrics } from '../report/schema.js';
import type { StackingSummary } from '../train/stacking.js';

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const secs = (x: number | undefined) => (x === undefined ? '' : `${x.toFixed(1)} s`);

function splitLine(name: string, m: SplitMetrics): string {
  return `${name.padEnd(22)} accuracy ${pct(m.accuracy)}  top-3 ${pct(m.top3)}  loss ${m.loss.toFixed(4)}  (${m.n} images)`;
}

export function printRunReport(report: RunReport): void {
  const lines: string[] = [''];
  const splits: [string, SplitMetrics | undefined][] = [
    ['frozen head, validation', report.frozen?.val], ['frozen head, test', report.frozen?.test],
    ['validation', report.val], ['test', report.test], ['train', report.train],
  ];
  for (const [name, m] of splits) if (m) lines.push(splitLine(name + ':', m));
  const shown = shownSplit(report);
  if (shown) {
    if (report.classes.length <= 10) lines.push('', `${shown.name}:`, formatClassificationReport(shown.metrics.confusion, report.classes));
    const confused = shown.metrics.mostConfused;
    if (confused.length) lines.push(`most confused: ${confused.slice(0, 5).map(([a, p, n]) => `${a} → ${p} (${n})`).join(', ')}`);
    const losses = shown.metrics.topLosses.filter((t) => t.actual !== t.predicted).slice(0, 3);
    if (losses.length) lines.push(`top losses: ${losses.map((t) => `${t.path} (${t.actual} → ${t.predicted} p=${t.probability.toFixed(2)})`).join('; ')}`);
  }
  const s = report.selected;
  const used = [
    s.backbones.length ? `backbone ${s.backbones.map((b) => `${b.id}@${b.tap}${b.pooling && b.pooling !== 'avg' ? `/${b.pooling}` : ''}`).join(' + ')}` : '',
    s.architecture ? `architecture ${s.architecture} (${s.inputSize} px)` : '',
    s.head ? `head ${s.head.kind}${s.head.hidden.length ? ` [${s.head.hidden.join(',')}]` : ''}` : '',
    s.epochs ? `epochs ${s.epochs.run} (best ${s.epochs.best}${s.epochs.refit ? `, refit ${s.epochs.refit}` : ''})` : '',
    s.fineTune ? `fine-tuned ${s.fineTune.blocks.join(', ')} (${s.fineTune.parameters.toLocaleString()} parameters)` : '',
    s.trainedParameters ? `${s.trainedParameters.toLocaleString()} parameters` : '',
  ].filter(Boolean);
  if (used.length) lines.push(`used: ${used.join('; ')}`);
  const search = s.search as {
    weightDecay?: number; cvFolds?: number; cvScores?: { weightDecay: number; loss: number }[]; fittedOn?: number; augment?: string; stacking?: StackingSummary;
  } | undefined;
  if (search?.cvScores?.length) {
    const scores = search.cvScores.map((c) => `${c.weightDecay}: ${c.loss.toFixed(3)}`).join(', ');
    const st = search.stacking;
    const chosen = st?.kept
      ? `one head per backbone (weight decays ${st.weightDecays.join(', ')} by ${search.cvFolds}-fold CV each) stacked with weights ${st.weights.map((w) => w.toFixed(3)).join(', ')} (out-of-fold log loss ${st.cvLoss.toFixed(3)}; one head on the concatenated features: weight decay ${search.weightDecay}, ${st.concatenatedCvLoss.toFixed(3)})`
      : `weight decay ${search.weightDecay} by ${search.cvFolds}-fold CV (held-out log loss ${scores})${st ? `; stacked per-backbone heads lost on out-of-fold log loss (${st.cvLoss.toFixed(3)} vs ${st.concatenatedCvLoss.toFixed(3)})` : ''}`;
    lines.push(`selected: ${chosen}; refit on ${search.fittedOn} images${(search.augment ?? s.regularisation?.augment) === 'flip' ? ' + mirror images' : ''}${s.tta && s.tta !== 'none' ? `; TTA ${s.tta}` : ''}`);
  }
  if (report.skipped.length) lines.push(`skipped ${report.skipped.length} file(s): ${report.skipped.slice(0, 5).map((f) => `${f.path} (${f.reason})`).join('; ')}`);
  const t = report.timing;
  const parts = [
    t.extractSeconds !== undefined ? `features ${secs(t.extractSeconds)}: ${t.extractedImages} extracted, ${t.cachedImages} cached` : '',
    t.headSeconds !== undefined ? `head ${secs(t.headSeconds)}` : '',
    t.trainSeconds !== undefined ? `end-to-end ${secs(t.trainSeconds)}${t.stepMs ? `, ${t.stepMs.toFixed(0)} ms/step` : ''}` : '',
    t.evalSeconds !== undefined ? `evaluation ${secs(t.evalSeconds)}` : '',
  ].filter(Boolean);
  lines.push(`time: ${secs(t.totalSeconds)}${parts.length ? ` (${parts.join('; ')})` : ''}`);
  const files = Object.values(report.files).filter(Boolean);
  if (files.length) lines.push(`wrote ${files.join(', ')}`);
  console.log(lines.join('\n'));
}
