import type { Planes } from '../../../image/planes.js';

/** A differentiable image parameterisation: parameters → canvas (CHW, network-normalised units and channel order). */
export interface ImageParam {
  /** Updated in place by the optimiser. */
  readonly params: Float32Array;
  readonly height: number;
  readonly width: number;
  /** The canvas for the current parameters. */
  render(): Planes;
  /** Gradient w.r.t. params, given the gradient w.r.t. the canvas of the most recent render(). */
  backward(grad: Planes): Float32Array;
}
