/** Pictures of the top losses (fastai's plot_top_losses): a captioned grid PNG, and small JPEG thumbnails for report.html. */
import sharp from 'sharp';
import { openImage, toRgb, type RgbImage } from '../image/decode.js';
import { renderGrid } from '../image/grid.js';
import { writeFileAtomic } from '../util/fsutil.js';
import type { TopLoss } from './schema.js';

const TILE = 160;

/** The image reduced to fit size×size, or undefined when it cannot be read any more (moved or changed since scoring). */
async function thumbnail(file: string, size = TILE): Promise<RgbImage | undefined> {
  try {
    const opened = await openImage(file);
    return await toRgb(opened, opened.image.resize(size, size, { fit: 'inside', withoutEnlargement: true }));
  } catch {
    return undefined;
  }
}

/** Two caption lines: what it is → what the model said, then the model's confidence and the loss. */
export function topLossCaption(t: TopLoss): string {
  return `${t.actual} → ${t.predicted}\np=${t.probability.toFixed(2)} · loss ${t.loss.toFixed(2)}`;
}

/** Each top-loss image decoded once at tile size (undefined where unreadable now): for the grid and for report.html. */
export function topLossThumbnails(list: TopLoss[]): Promise<(RgbImage | undefined)[]> {
  return Promise.all(list.map((t) => thumbnail(t.path)));
}

/** Grid of the top-loss images with "actual → predicted / probability · loss" captions; undefined when none can be read. */
export async function plotTopLosses(
  list: TopLoss[], file?: string, opts: { columns?: number; title?: string; thumbnails?: (RgbImage | undefined)[] } = {},
): Promise<Buffer | undefined> {
  const thumbs = opts.thumbnails ?? await topLossThumbnails(list);
  const tiles = list.flatMap((t, i) => (thumbs[i] ? [{ image: thumbs[i], title: topLossCaption(t) }] : []));
  if (!tiles.length) return undefined;
  const grid = await renderGrid(tiles, {
    columns: opts.columns ?? Math.min(4, tiles.length), tileSize: TILE, padding: 8,
    title: opts.title ?? 'Top losses: actual → predicted, probability of the prediction, loss',
  });
  // A grid of photos as a full-colour PNG is ~0.9 MB; libimagequant's 256-colour palette with dithering is ~0.2 MB and looks the same.
  const png = await sharp(grid).png({ palette: true, effort: 1 }).toBuffer();
  if (file) await writeFileAtomic(file, png);
  return png;
}

/** Each thumbnail as a small JPEG data: URI (report.html must not reference files), undefined where unreadable. */
export async function thumbnailDataUris(thumbs: (RgbImage | undefined)[]): Promise<(string | undefined)[]> {
  return Promise.all(thumbs.map(async (img) => {
    if (!img) return undefined;
    const jpeg = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
    return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
  }));
}
