/**
 * Lucid's colour decorrelation: optimise in a space whose axes are the principal components of ImageNet
 * colours (square root of the colour covariance, columns scaled so the largest has unit norm).
 */
const SQRT_COLOUR_COVARIANCE = [
  [0.26, 0.09, 0.02],
  [0.27, 0.0, -0.05],
  [0.27, -0.09, 0.03],
];

const maxColumnNorm = Math.max(...[0, 1, 2].map((j) => Math.hypot(...SQRT_COLOUR_COVARIANCE.map((row) => row[j]))));

/** rgb = M · decorrelated, per pixel. */
export const DECORRELATION: number[][] = SQRT_COLOUR_COVARIANCE.map((row) => row.map((v) => v / maxColumnNorm));

/** Applies a 3×3 matrix to the channel vector of every pixel of CHW planes (3 channels). */
export function mixChannels(matrix: number[][], data: Float32Array, plane: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < plane; i++) {
    const a = data[i];
    const b = data[plane + i];
    const c = data[2 * plane + i];
    for (let r = 0; r < 3; r++) out[r * plane + i] = matrix[r][0] * a + matrix[r][1] * b + matrix[r][2] * c;
  }
  return out;
}

export function transpose3(m: number[][]): number[][] {
  return [0, 1, 2].map((i) => [0, 1, 2].map((j) => m[j][i]));
}

/** Inverse of a 3×3 matrix (adjugate / determinant). */
export function invert3(m: number[][]): number[][] {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}
