/** Reports of runs: the report.json schema, metrics, the one split builder, plots, top losses and report.html. */
export * from './schema.js';
export * from './metrics.js';
export { splitMetrics, type SplitScores } from './split.js';
export { plotCurves, plotConfusion, curvesSpec, confusionSpec, vegaLiteSvg, renderVegaLite, type ConfusionPlotOptions } from './plots.js';
export { plotTopLosses } from './top-losses.js';
export { renderReportHtml, shellQuote } from './html.js';
export { writeRunReport, type WriteReportOptions } from './write.js';
