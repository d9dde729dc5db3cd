/**
 * Limited-memory BFGS (Nocedal & Wright, algorithm 7.4) with a backtracking Armijo line search.
 * Full-batch and deterministic: for a convex objective such as L2-regularised logistic regression it reaches
 * the optimum in tens of function evaluations, and a warm start (the previous solution on a regularisation
 * path) cuts that further. The objective is async so that it can run on onnxruntime.
 */

/** Value and gradient at x; the gradient is written into `grad`. */
export type Objective = (x: Float64Array, grad: Float64Array) => Promise<number> | number;

export interface LbfgsOptions {
  /** Stop when max |gradient| falls below this (scikit-learn's `tol` for lbfgs). */
  gradTol?: number;
  /** Stop when the relative decrease of the value over one iteration is below this. */
  relTol?: number;
  maxIterations?: number;
  /** Number of correction pairs kept. */
  memory?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  value: number;
  gradMax: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
}

/** Minimises `f` starting from `x0` (not modified). */
export async function minimizeLbfgs(f: Objective, x0: Float64Array, options: LbfgsOptions = {}): Promise<LbfgsResult> {
  const gradTol = options.gradTol ?? 5e-5;
  const relTol = options.relTol ?? 1e-9;
  const maxIterations = options.maxIterations ?? 200;
  // 15 pairs rather than scipy's 10: on the Oxford pets head (28 k parameters) 6 → 15 cut the evaluations by 10 %
  // (578 → 521) while the two-loop recursion stays ~1 % of one loss+gradient evaluation.
  const memory = options.memory ?? 15;
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let value = await f(x, g);
  let evaluations = 1;
  const sList: Float64Array[] = [];
  const yList: Float64Array[] = [];
  const rhoList: number[] = [];
  const direction = new Float64Array(n);
  const alpha = new Float64Array(memory);
  let iterations = 0;
  let converged = maxAbs(g) < gradTol;
  while (!converged && iterations < maxIterations) {
    // Two-loop recursion: direction = −H·g with H the L-BFGS inverse-Hessian estimate.
    direction.set(g);
    for (let k = sList.length - 1; k >= 0; k--) {
      alpha[k] = rhoList[k] * dot(sList[k], direction);
      axpy(-alpha[k], yList[k], direction);
    }
    if (sList.length) {
      const last = sList.length - 1;
      scale(direction, dot(sList[last], yList[last]) / dot(yList[last], yList[last]));
    } else {
      // First step: unit length, as the curvature is still unknown.
      scale(direction, 1 / Math.max(Math.sqrt(dot(g, g)), 1e-12));
    }
    for (let k = 0; k < sList.length; k++) {
      const beta = rhoList[k] * dot(yList[k], direction);
      axpy(alpha[k] - beta, sList[k], direction);
    }
    scale(direction, -1);
    let slope = dot(g, direction);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      sList.length = 0; yList.length = 0; rhoList.length = 0;
      direction.set(g);
      scale(direction, -1 / Math.max(Math.sqrt(dot(g, g)), 1e-12));
      slope = dot(g, direction);
    }
    // Backtracking line search with the Armijo condition (c1 = 1e-4), starting from the quasi-Newton step 1.
    let step = 1;
    const xNew = new Float64Array(n);
    const gNew = new Float64Array(n);
    let valueNew = Infinity;
    for (let tries = 0; tries < 30; tries++) {
      for (let j = 0; j < n; j++) xNew[j] = x[j] + step * direction[j];
      valueNew = await f(xNew, gNew);
      evaluations++;
      if (Number.isFinite(valueNew) && valueNew <= value + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(valueNew < value)) break; // no progress possible at float32 precision
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      s[j] = xNew[j] - x[j];
      y[j] = gNew[j] - g[j];
    }
    const sy = dot(s, y);
    if (sy > 1e-12) {
      if (sList.length === memory) { sList.shift(); yList.shift(); rhoList.shift(); }
      sList.push(s); yList.push(y); rhoList.push(1 / sy);
    }
    const decrease = (value - valueNew) / Math.max(Math.abs(value), Math.abs(valueNew), 1);
    x = xNew;
    g = gNew;
    value = valueNew;
    iterations++;
    converged = maxAbs(g) < gradTol || decrease < relTol;
  }
  return { x, value, gradMax: maxAbs(g), iterations, evaluations, converged };
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
}

function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let j = 0; j < x.length; j++) y[j] += a * x[j];
}

function scale(x: Float64Array, a: number): void {
  for (let j = 0; j < x.length; j++) x[j] *= a;
}

function maxAbs(x: Float64Array): number {
  let m = 0;
  for (let j = 0; j < x.length; j++) m = Math.max(m, Math.abs(x[j]));
  return m;
}
