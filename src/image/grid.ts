import sharp, { type OverlayOptions } from 'sharp';
import { GraftError } from '../util/errors.js';
import type { RgbImage } from './decode.js';

export interface GridTile {
  image: RgbImage;
  /** Caption under the tile; '\n' starts a new line. */
  title?: string;
}

export interface GridOptions {
  /** Default: ceil(sqrt(number of tiles)). */
  columns?: number;
  /** Each tile is fitted inside tileSize×tileSize, keeping its aspect ratio. Default 128. */
  tileSize?: number;
  /** Space around and between tiles, in pixels. Default 4. */
  padding?: number;
  /** A heading above the grid. */
  title?: string;
  /** CSS colour. Default white. */
  background?: string;
}

const FONT = 'DejaVu Sans';
const TILE_FONT_PX = 12;
const TITLE_FONT_PX = 16;

/** Escapes text for an SVG text node. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[ch]!);
}

/** Shortens text to about `width` pixels of DejaVu Sans (average glyph ≈ 0.6 em), ending with an ellipsis. */
function fitText(text: string, width: number, fontPx: number): string {
  const maxChars = Math.max(1, Math.floor(width / (0.6 * fontPx)));
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}

/** Black or white, whichever reads better on the background. */
async function textColour(background: string): Promise<string> {
  const { data } = await sharp({ create: { width: 1, height: 1, channels: 3, background } }).raw().toBuffer({ resolveWithObject: true });
  const luminance = 0.299 * data[0] + 0.587 * data[1] + 0.114 * data[2];
  return luminance > 128 ? '#000000' : '#ffffff';
}

/** Fits a tile inside size×size: enlarged with nearest neighbour (crisp feature maps), reduced smoothly. */
async function fitTile(img: RgbImage, size: number): Promise<{ data: Buffer; width: number; height: number }> {
  if (img.data.length !== img.width * img.height * 3) {
    throw new GraftError('SHAPE', `renderGrid: tile has ${img.data.length} bytes for ${img.width}×${img.height} RGB`);
  }
  const scale = size / Math.max(img.width, img.height);
  const width = Math.max(1, Math.round(img.width * scale));
  const height = Math.max(1, Math.round(img.height * scale));
  const { data } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: scale > 1 ? 'nearest' : 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width, height };
}

/** Renders tiles in a grid with optional titles (SVG text composited by sharp) and returns the PNG. */
export async function renderGrid(tiles: GridTile[], opts: GridOptions = {}): Promise<Buffer> {
  if (tiles.length === 0) throw new GraftError('BAD_ARGUMENT', 'renderGrid: no tiles to draw');
  const columns = opts.columns ?? Math.ceil(Math.sqrt(tiles.length));
  const tileSize = opts.tileSize ?? 128;
  const padding = opts.padding ?? 4;
  const background = opts.background ?? '#ffffff';
  const rows = Math.ceil(tiles.length / columns);
  const captionLines = Math.max(0, ...tiles.map((t) => (t.title ? t.title.split('\n').length : 0)));
  const lineHeight = Math.round(TILE_FONT_PX * 1.25);
  const captionHeight = captionLines ? captionLines * lineHeight + Math.round(TILE_FONT_PX * 0.25) : 0;
  const headerHeight = opts.title ? Math.round(TITLE_FONT_PX * 1.75) : 0;
  const cellWidth = tileSize + padding;
  const cellHeight = tileSize + captionHeight + padding;
  const width = padding + columns * cellWidth;
  const height = headerHeight + padding + rows * cellHeight;

  const fitted = await Promise.all(tiles.map((t) => fitTile(t.image, tileSize)));
  const colour = await textColour(background);
  const composites: OverlayOptions[] = [];
  const texts: string[] = [];
  const textAttrs = `font-family="${FONT}" fill="${colour}" text-anchor="middle"`;
  if (opts.title) {
    texts.push(`<text x="${width / 2}" y="${Math.round(TITLE_FONT_PX * 1.25)}" font-size="${TITLE_FONT_PX}" font-weight="bold" ${textAttrs}>${escapeXml(fitText(opts.title, width - 2 * padding, TITLE_FONT_PX))}</text>`);
  }
  fitted.forEach((tile, i) => {
    const cellLeft = padding + (i % columns) * cellWidth;
    const cellTop = headerHeight + padding + Math.floor(i / columns) * cellHeight;
    composites.push({
      input: tile.data,
      raw: { width: tile.width, height: tile.height, channels: 3 },
      left: cellLeft + Math.floor((tileSize - tile.width) / 2),
      top: cellTop + Math.floor((tileSize - tile.height) / 2),
    });
    const title = tiles[i].title;
    title?.split('\n').forEach((line, l) => {
      const baseline = cellTop + tileSize + TILE_FONT_PX + l * lineHeight;
      texts.push(`<text x="${cellLeft + tileSize / 2}" y="${baseline}" font-size="${TILE_FONT_PX}" ${textAttrs}>${escapeXml(fitText(line, tileSize, TILE_FONT_PX))}</text>`);
    });
  });
  if (texts.length > 0) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${texts.join('')}</svg>`;
    composites.push({ input: Buffer.from(svg), left: 0, top: 0 });
  }
  return sharp({ create: { width, height, channels: 3, background } }).composite(composites).png().toBuffer();
}
