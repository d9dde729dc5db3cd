/**
 * The float64 reference for every gradient test: central finite differences through the float64 interpreter,
 * at points checked to be away from every kink.
 *
 * Why this holds on any x86-64 CPU (Intel or AMD, any SIMD path onnxruntime picks): the only CPU-dependent
 * number in a gradient test is the float32 analytic gradient from onnxruntime, whose kernels may sum in a
 * different order on each CPU, changing results by a few float32 ulps (relative ~1e-7 per op). Everything else
 * is float64 JavaScript, which IEEE 754 makes bit-identical on every CPU. Float32 finite differences failed
 * because they divide such ulp-level noise by a step of 1e-2..1e-3, and because a step that large moves
 * ReLU/Clip inputs and max-pool winners across kinks, where the function is not differentiable. Here:
 *  - the step is 1e-6 (relative) in float64: truncation error ~h² and rounding error ~1e-16/h, both below 1e-9;
 *  - every ReLU/LeakyReLU/Elu/Abs/HardSigmoid/HardSwish/Clip input and every comparison is at least
 *    KINK_MARGIN = 1e-5 from its kink, and every max-pool window's winner leads its runner-up by at least as
 *    much, at the base point (checked, and the number of checked elements is asserted non-zero when the graph
 *    has such ops). Inputs and weights are O(1), and onnxruntime's float32 forward differs from the float64
 *    one on these values by 3e-7 (scratch CNN) to 1.3e-6 (ResNet-18, whose residual sums reach ~3), as
 *    f64-interpreter.test.ts measures and bounds (< 2e-6), so it picks the same pieces on every CPU and its
 *    gradient differs from the float64 one by rounding only. (A margin relative to each channel's magnitude would not do: a conv output that
 *    cancels to 1e-3 still carries the absolute rounding error of its O(0.1) terms.);
 *  - both finite-difference points are checked to be on exactly the same pieces as the base point (a hash of
 *    every element's piece), so the difference quotient is that of one smooth function.
 * The remaining difference is float32 rounding of the backward graph, which GRADIENT_RTOL bounds with a wide
 * margin (see its comment), and which does not depend on where a kink happens to fall.
 */
import assert from 'node:assert/strict';
import type { Model } from '../../../src/onnx/types.js';
import { Interpreter, KinkMonitor } from './interpreter.js';
import type { T64 } from './tensor.js';

/** Smallest allowed distance of any piecewise-op input (or max-pool winner gap) to its kink. */
export const KINK_MARGIN = 1e-5;

/** Central-difference step, relative to max(1, |x|). */
export const FD_STEP = 1e-6;

/**
 * Allowed |float32 analytic − float64 reference| as a fraction of the gradient's scale (its largest entry, or
 * its norm for a directional derivative). float32 rounding gives ~6e-8 per op; the backward graphs sum at most
 * a few thousand products per entry with random signs. Worst measured over every test here (GRAFT_FD_REPORT=1):
 * 2.5e-6 of the largest entry elementwise, 6.5e-9 of |∇f| along a direction; 1e-4 leaves a 40× margin and is
 * still 100× tighter than the 1e-2 the float32 finite differences needed. A wrong rule (a missing term, a
 * wrong transpose or pad) is off by O(1) of scale.
 */
export const GRADIENT_RTOL = 1e-4;

export type Point = Record<string, T64>;

/** Sum of all elements of the objective tensor. */
const total = (t: T64): number => t.data.reduce((s, v) => s + v, 0);

export interface KinkCheck {
  monitor: KinkMonitor;
  objective: number;
}

/** The float64 forward of one model's objective, with its kink bookkeeping. */
export class Reference {
  private readonly interpreter: Interpreter;

  constructor(model: Model, readonly objective: string) {
    this.interpreter = new Interpreter(model);
  }

  /** Objective at `point`, recording pieces and kink distances in `monitor`. */
  value(point: Point, monitor?: KinkMonitor): number {
    return total(this.interpreter.run(point, [this.objective], { kinks: monitor })[this.objective]);
  }

  /** Evaluates the base point and reports how close it is to any kink. */
  kinks(point: Point, near = KINK_MARGIN): KinkCheck {
    const monitor = new KinkMonitor(near);
    const objective = this.value(point, monitor);
    return { monitor, objective };
  }

  /** Asserts the point is at least `margin` from every kink; returns the check (for its pattern). */
  assertAwayFromKinks(point: Point, margin = KINK_MARGIN): KinkCheck {
    const check = this.kinks(point, margin);
    assert.ok(check.monitor.margin >= margin, `the point is ${check.monitor.margin.toExponential(2)} from a kink (< ${margin}): ${check.monitor.describe()}`);
    return check;
  }

  /** d objective / d point[w] for every element, by central differences; each step stays on the base pieces. */
  gradient(point: Point, w: string, pattern: number): Float64Array {
    const base = point[w];
    const x = Float64Array.from(base.data);
    const grad = new Float64Array(x.length);
    const at = { ...point, [w]: { dims: base.dims, data: x } };
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      const h = FD_STEP * Math.max(1, Math.abs(v));
      x[i] = v + h;
      const plus = this.onPieces(at, pattern, `${w}[${i}] + h`);
      x[i] = v - h;
      const minus = this.onPieces(at, pattern, `${w}[${i}] − h`);
      x[i] = v;
      grad[i] = (plus - minus) / (2 * h);
    }
    return grad;
  }

  /** ⟨∇ objective, direction⟩ by a central difference along `direction` (a map over some of the point's tensors). */
  directional(point: Point, direction: Record<string, Float64Array>, pattern: number, h = FD_STEP): number {
    const shifted = (sign: number): Point => {
      const p = { ...point };
      for (const [w, d] of Object.entries(direction)) p[w] = { dims: point[w].dims, data: point[w].data.map((v, i) => v + sign * h * d[i]) };
      return p;
    };
    return (this.onPieces(shifted(1), pattern, '+h·v') - this.onPieces(shifted(-1), pattern, '−h·v')) / (2 * h);
  }

  private onPieces(point: Point, pattern: number, what: string): number {
    const monitor = new KinkMonitor();
    const v = this.value(point, monitor);
    assert.equal(monitor.pattern, pattern, `finite-difference point ${what} left the base point's pieces (crossed a kink)`);
    return v;
  }
}

/**
 * Draws points with `draw` (deterministic: a seeded generator) until one is KINK_MARGIN away from every kink.
 * Re-drawing is needed only for whole networks, where thousands of ReLU inputs make a close one likely.
 */
export function drawAwayFromKinks<P>(reference: Reference, draw: () => P, toPoint: (p: P) => Point, margin = KINK_MARGIN, attempts = 50): P {
  for (let k = 0; k < attempts; k++) {
    const p = draw();
    if (reference.kinks(toPoint(p), margin).monitor.margin >= margin) return p;
  }
  throw new Error(`no point ${margin} away from every kink in ${attempts} draws`);
}
