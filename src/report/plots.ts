import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { EpochRow } from './history.js';
import { GraftError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fsutil.js';

const FONT = 'DejaVu Sans';
const baseConfig = {
  font: FONT,
  background: 'white',
  padding: 12,
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14 },
};

const chartName = (spec: TopLevelSpec): string => String(spec.title ?? spec.description ?? 'untitled');

/** Renders a vega-lite spec to SVG text with vega's headless view (no browser, no network): inlined by report.html. */
export async function vegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } catch (err) {
    throw new GraftError('RUNTIME', `rendering chart '${chartName(spec)}' failed: ${String(err)}`, { cause: err });
  } finally {
    view.finalize();
  }
}

/** Renders a vega-lite spec to PNG (its SVG rasterised by sharp at `scale`× resolution). */
export async function renderVegaLite(spec: TopLevelSpec, scale = 2): Promise<Buffer> {
  return svgToPng(await vegaLiteSvg(spec), scale, chartName(spec));
}

/** Rasterises a chart's SVG (from vegaLiteSvg) at `scale`× resolution. */
export async function svgToPng(svg: string, scale = 2, name = 'chart'): Promise<Buffer> {
  try {
    return await sharp(Buffer.from(svg), { density: 72 * scale }).png().toBuffer();
  } catch (err) {
    throw new GraftError('RUNTIME', `rasterising chart '${name}' failed: ${String(err)}`, { cause: err });
  }
}

/** Loss and accuracy per epoch, train vs val, side by side; writes `file` atomically when given. */
export async function plotCurves(history: EpochRow[], file?: string): Promise<Buffer> {
  const png = await renderVegaLite(curvesSpec(history));
  if (file) await writeFileAtomic(file, png);
  return png;
}

/** The vega-lite spec of plotCurves. */
export function curvesSpec(history: EpochRow[]): TopLevelSpec {
  if (history.length === 0) throw new GraftError('BAD_ARGUMENT', 'plotCurves: empty training history');
  const values: { epoch: number; split: string; metric: string; value: number }[] = [];
  for (const row of history) {
    values.push({ epoch: row.epoch, split: 'train', metric: 'loss', value: row.trainLoss });
    values.push({ epoch: row.epoch, split: 'train', metric: 'accuracy', value: row.trainAcc });
    if (row.valLoss !== undefined) values.push({ epoch: row.epoch, split: 'val', metric: 'loss', value: row.valLoss });
    if (row.valAcc !== undefined) values.push({ epoch: row.epoch, split: 'val', metric: 'accuracy', value: row.valAcc });
  }
  const panel = (metric: string, title: string) => ({
    title,
    width: 380,
    height: 260,
    transform: [{ filter: { field: 'metric', equal: metric } }],
    mark: { type: 'line' as const, point: history.length <= 60, strokeWidth: 2 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: { tickMinStep: 1 }, scale: { nice: false } },
      y: { field: 'value', type: 'quantitative' as const, title: metric, scale: { zero: false } },
      color: {
        field: 'split',
        type: 'nominal' as const,
        title: null,
        scale: { domain: ['train', 'val'], range: ['#1f77b4', '#ff7f0e'] },
      },
    },
  });
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    description: 'training curves',
    data: { values },
    hconcat: [panel('loss', 'Loss'), panel('accuracy', 'Accuracy')],
    config: baseConfig,
  };
  return spec;
}

/** One point of a cross-validated hyper-parameter search: the held-out log loss and accuracy of a weight decay. */
export interface CvPoint { weightDecay: number; loss: number; accuracy: number }

/**
 * The curves of a head fitted without epochs (full-batch L-BFGS): scikit-learn's validation curve — held-out
 * log loss and accuracy against the weight decay (log scale), the selected value marked.
 */
export function validationCurveSpec(points: CvPoint[], selected: number): TopLevelSpec {
  if (points.length === 0) throw new GraftError('BAD_ARGUMENT', 'validationCurveSpec: no cross-validation scores');
  const values = points.flatMap((p) => [
    { weightDecay: p.weightDecay, metric: 'held-out log loss', value: p.loss },
    { weightDecay: p.weightDecay, metric: 'held-out accuracy', value: p.accuracy },
  ]);
  const panel = (metric: string, title: string) => ({
    title,
    width: 380,
    height: 260,
    layer: [
      {
        transform: [{ filter: { field: 'metric', equal: metric } }],
        mark: { type: 'line' as const, point: true, strokeWidth: 2, color: '#1f77b4' },
        encoding: {
          x: { field: 'weightDecay', type: 'quantitative' as const, title: 'weight decay (L2)', scale: { type: 'log' as const } },
          y: { field: 'value', type: 'quantitative' as const, title: metric, scale: { zero: false } },
        },
      },
      {
        data: { values: [{ weightDecay: selected }] },
        mark: { type: 'rule' as const, color: '#d62728', strokeDash: [4, 3], strokeWidth: 2 },
        encoding: { x: { field: 'weightDecay', type: 'quantitative' as const } },
      },
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    description: 'cross-validation curves',
    data: { values },
    hconcat: [panel('held-out log loss', `Cross-validated loss (selected ${selected})`), panel('held-out accuracy', 'Cross-validated accuracy')],
    config: baseConfig,
  } as TopLevelSpec;
}

export interface ConfusionPlotOptions {
  /** Show each row as fractions of the actual class (recall per cell) instead of counts. */
  normalise?: boolean;
  title?: string;
}

/** Confusion heat-map (rows actual, columns predicted) with the value printed in every non-empty cell; writes `file` atomically when given. */
export async function plotConfusion(confusion: number[][], classes: string[], file?: string, options: ConfusionPlotOptions = {}): Promise<Buffer> {
  const png = await renderVegaLite(confusionSpec(confusion, classes, options));
  if (file) await writeFileAtomic(file, png);
  return png;
}

/** The vega-lite spec of plotConfusion. */
export function confusionSpec(confusion: number[][], classes: string[], options: ConfusionPlotOptions = {}): TopLevelSpec {
  const k = classes.length;
  if (k === 0 || confusion.length !== k || confusion.some((row) => row.length !== k)) {
    throw new GraftError('SHAPE', `plotConfusion: confusion matrix is not ${k}×${k} for ${k} class names`);
  }
  const normalise = options.normalise ?? false;
  const many = k > 12;
  const values: { actual: string; predicted: string; value: number; label: string }[] = [];
  let max = 0;
  confusion.forEach((row, a) => {
    const total = row.reduce((s, v) => s + v, 0);
    row.forEach((count, p) => {
      const value = normalise ? (total > 0 ? count / total : 0) : count;
      max = Math.max(max, value);
      // With many classes, empty cells stay blank so the errors stand out.
      const label = count === 0 && many ? '' : normalise ? value.toFixed(2) : String(count);
      values.push({ actual: classes[a], predicted: classes[p], value, label });
    });
  });
  const step = many ? (normalise ? 26 : 22) : k <= 4 ? 80 : 48;
  const labelFontSize = many ? 10 : 12;
  const axisLabels = { labelLimit: 400, labelFontSize };
  // vega's headless text measurement overestimates label widths (0.8 em per character), which pushes the axis
  // titles far out; place them from an estimate closer to DejaVu Sans (≈0.55 em per character).
  const labelExtent = 0.55 * labelFontSize * Math.max(...classes.map((c) => c.length));
  const labelAngle = many ? 60 : 0;
  const xTitle = many ? { titleY: labelExtent * Math.sin((labelAngle * Math.PI) / 180) + 18 } : {};
  const yTitle = many ? { titleX: -(labelExtent + 16) } : {};
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: options.title ?? (normalise ? 'Confusion matrix (normalised by actual class)' : 'Confusion matrix'),
    data: { values },
    width: { step },
    height: { step },
    encoding: {
      x: {
        field: 'predicted',
        type: 'nominal',
        sort: classes,
        title: 'Predicted',
        axis: { ...axisLabels, labelAngle: -labelAngle, ...xTitle },
      },
      y: { field: 'actual', type: 'nominal', sort: classes, title: 'Actual', axis: { ...axisLabels, ...yTitle } },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: '#e5e5e5', strokeWidth: 0.5 },
        encoding: {
          color: {
            field: 'value',
            type: 'quantitative',
            title: normalise ? 'fraction' : 'count',
            // sqrt so that single mistakes are visible next to a full diagonal; empty cells stay white.
            scale: { type: 'sqrt', domain: [0, Math.max(max, normalise ? 1e-9 : 1)], range: ['#ffffff', '#08306b'], interpolate: 'rgb' },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: many ? (normalise ? 7.5 : 9) : 13 },
        encoding: {
          text: { field: 'label', type: 'nominal' },
          color: { condition: { test: `datum.value > ${max / 4}`, value: 'white' }, value: 'black' },
        },
      },
    ],
    config: { ...baseConfig, axis: { ...baseConfig.axis, grid: false, ticks: false, domain: false } },
  };
  return spec;
}

/** Loss vs learning rate (log axis) of a range test, the suggested learning rate marked by a rule and a label. */
export async function plotLrFind(points: { lr: number; loss: number; smoothed: number }[], suggested: number, file?: string): Promise<Buffer> {
  if (points.length === 0) throw new GraftError('BAD_ARGUMENT', 'plotLrFind: no points');
  const values = points.flatMap((p) => [{ lr: p.lr, loss: p.loss, series: 'loss' }, { lr: p.lr, loss: p.smoothed, series: 'smoothed' }]);
  const x = { field: 'lr', type: 'quantitative' as const, title: 'learning rate', scale: { type: 'log' as const } };
  // The exploding tail would flatten everything else: the y axis stops a little above the starting loss.
  const top = 1.5 * Math.max(points[0].smoothed, points[0].loss);
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    description: 'learning-rate range test',
    title: `Learning-rate finder: suggested ${suggested.toExponential(1)}`,
    width: 520,
    height: 320,
    layer: [
      {
        data: { values },
        mark: { type: 'line', strokeWidth: 2, clip: true },
        encoding: {
          x, y: { field: 'loss', type: 'quantitative', title: 'training loss', scale: { domain: [0, top] } },
          color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['loss', 'smoothed'], range: ['#c7d7ea', '#1f77b4'] } },
        },
      },
      { data: { values: [{ lr: suggested }] }, mark: { type: 'rule', color: '#d62728', strokeWidth: 2, strokeDash: [6, 4] }, encoding: { x } },
      {
        data: { values: [{ lr: suggested, text: `suggested ${suggested.toExponential(1)}` }] },
        mark: { type: 'text', align: 'left', dx: 6, dy: -8, color: '#d62728', fontSize: 12 },
        encoding: { x, y: { value: 12 }, text: { field: 'text' } },
      },
    ],
    config: baseConfig,
  };
  const png = await renderVegaLite(spec);
  if (file) await writeFileAtomic(file, png);
  return png;
}
