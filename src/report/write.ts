/**
 * Writes a run's report files into its output folder — report.json, report.html and the PNGs (curves,
 * confusion, top losses) — the same way for every mode. Each chart is rendered once as SVG: the PNG is
 * rasterised from it and report.html inlines it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../util/fsutil.js';
import { renderReportHtml, type HtmlAssets } from './html.js';
import { confusionSpec, curvesSpec, svgToPng, validationCurveSpec, vegaLiteSvg, type CvPoint } from './plots.js';
import { shownSplit, type RunReport } from './schema.js';
import { plotTopLosses, thumbnailDataUris, topLossThumbnails } from './top-losses.js';

export interface WriteReportOptions {
  /** Also write curves.png, confusion.png and top-losses.png (report.json and report.html are always written). */
  plots?: boolean;
  /** Date.now() when the run started: timing.totalSeconds is set from it just before report.json is written. */
  startedAt?: number;
}

/** Writes the report files into `out` and records their paths in `report.files`; returns the report. */
export async function writeRunReport(report: RunReport, out: string, opts: WriteReportOptions = {}): Promise<RunReport> {
  await fs.promises.mkdir(out, { recursive: true });
  const plots = opts.plots !== false;
  const shown = shownSplit(report);
  const assets: HtmlAssets = {};
  // The pieces are independent; sharp's encoders run on libuv's threads, so they overlap.
  // A head trained in epochs draws its learning curves; one fitted in a single solve (L-BFGS) draws the
  // cross-validation curve that chose its regularisation.
  const search = report.selected.search as { cvScores?: CvPoint[]; weightDecay?: number } | undefined;
  const curves = async () => {
    if (report.history.length) assets.curvesSvg = await vegaLiteSvg(curvesSpec(report.history));
    else if (search?.cvScores?.length && search.weightDecay !== undefined) assets.curvesSvg = await vegaLiteSvg(validationCurveSpec(search.cvScores, search.weightDecay));
    else return;
    if (!plots) return;
    const file = path.join(out, 'curves.png');
    await writeFileAtomic(file, await svgToPng(assets.curvesSvg, 2, 'training curves'));
    return file;
  };
  const confusion = async () => {
    if (!shown || shown.metrics.n === 0) return;
    assets.confusionSvg = await vegaLiteSvg(confusionSpec(shown.metrics.confusion, report.classes, { title: `Confusion matrix (${shown.name})` }));
    if (!plots) return;
    const file = path.join(out, 'confusion.png');
    await writeFileAtomic(file, await svgToPng(assets.confusionSvg, 2, 'confusion matrix'));
    return file;
  };
  const losses = shown?.metrics.topLosses ?? [];
  const topLosses = async () => {
    if (!losses.length) return;
    const thumbnails = await topLossThumbnails(losses);
    assets.thumbnails = await thumbnailDataUris(thumbnails);
    if (!plots) return;
    const file = path.join(out, 'top-losses.png');
    return (await plotTopLosses(losses, file, { thumbnails, title: `Top losses (${shown!.name}): actual → predicted, p(predicted), loss` })) ? file : undefined;
  };
  const [curvesFile, confusionFile, topLossesFile] = await Promise.all([curves(), confusion(), topLosses()]);
  // Assigned in a fixed order, so report.json's key order does not depend on which file was finished first.
  if (curvesFile) report.files.curves = curvesFile;
  if (confusionFile) report.files.confusion = confusionFile;
  if (topLossesFile) report.files.topLosses = topLossesFile;
  report.files.report = path.join(out, 'report.json');
  report.files.html = path.join(out, 'report.html');
  if (opts.startedAt !== undefined) report.timing.totalSeconds = (Date.now() - opts.startedAt) / 1000;
  await writeFileAtomic(report.files.report, JSON.stringify(report, null, 2));
  await writeFileAtomic(report.files.html, renderReportHtml(report, assets));
  return report;
}
