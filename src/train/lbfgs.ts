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
  // (578 → 521); 8 pairs made the whole warm Oxford run cost more CPU (595 evaluations), though each recursion is cheaper.
  const memory = options.memory ?? 15;
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let value = await f(x, g);
  let evaluations = 1;
  // Correction pairs in float32: the recursion streams all of them from memory every iteration (15 pairs × 2 ×
  // 28 k parameters × 5 concurrent folds outgrow the cache on the Oxford head), and they only shape the step's
  // direction — the gradient and the iterate stay float64.
  const sList: Float32Array[] = [];
  const yList: Float32Array[] = [];
  const rhoList: number[] = [];
  /** sᵀy / yᵀy of each pair: the initial inverse-Hessian scale when that pair is the newest. */
  const gammaList: number[] = [];
  const direction = new Float64Array(n);
  const alpha = new Float64Array(memory);
  // Every buffer is allocated once and recycled: fresh 28 k-element arrays on every iteration of five concurrent
  // solvers kept the garbage collector busy. The trial point and its gradient swap with the iterate on acceptance.
  let xNew = new Float64Array(n);
  let gNew = new Float64Array(n);
  const spare: Float32Array[] = [];
  let iterations = 0;
  let converged = maxAbs(g) < gradTol;
  while (!converged && iterations < maxIterations) {
    // Two-loop recursion: direction = −H·g with H the L-BFGS inverse-Hessian estimate.
    if (sList.length) {
      twoLoop(g, sList, yList, rhoList, gammaList[gammaList.length - 1], alpha, direction);
    } else {
      // First step: unit length, as the curvature is still unknown.
      unitDescent(g, direction);
    }
    let slope = dot(g, direction);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      spare.push(...sList.splice(0), ...yList.splice(0));
      rhoList.length = 0; gammaList.length = 0;
      unitDescent(g, direction);
      slope = dot(g, direction);
    }
    // Backtracking line search with the Armijo condition (c1 = 1e-4), starting from the quasi-Newton step 1.
    let step = 1;
    let valueNew = Infinity;
    for (let tries = 0; tries < 30; tries++) {
      for (let j = 0; j < n; j++) xNew[j] = x[j] + step * direction[j];
      valueNew = await f(xNew, gNew);
      evaluations++;
      if (Number.isFinite(valueNew) && valueNew <= value + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(valueNew < value)) break; // no progress possible at float32 precision
    const s = spare.pop() ?? new Float32Array(n);
    const y = spare.pop() ?? new Float32Array(n);
    for (let j = 0; j < n; j++) {
      s[j] = xNew[j] - x[j];
      y[j] = gNew[j] - g[j];
    }
    const sy = dot(s, y);
    if (sy > 1e-12) {
      if (sList.length === memory) {
        spare.push(sList.shift()!, yList.shift()!);
        rhoList.shift();
        gammaList.shift();
      }
      sList.push(s); yList.push(y); rhoList.push(1 / sy); gammaList.push(sy / dot(y, y));
    } else {
      spare.push(s, y);
    }
    const decrease = (value - valueNew) / Math.max(Math.abs(value), Math.abs(valueNew), 1);
    [x, xNew] = [xNew, x];
    [g, gNew] = [gNew, g];
    value = valueNew;
    iterations++;
    converged = maxAbs(g) < gradTol || decrease < relTol;
  }
  return { x, value, gradMax: maxAbs(g), iterations, evaluations, converged };
}

// Four partial sums: one running sum is a chain of dependent additions (one per FP-add latency), which made the
// two-loop recursion cost as much as the onnxruntime evaluations on the Oxford head (28 k parameters, 15 pairs).
/**
 * direction = −H·g by the two-loop recursion (Nocedal & Wright, algorithm 7.4), each dot product computed in the
 * same pass as the update before it: 2m + 1 passes over the parameters instead of 4m + 2. On the Oxford head
 * (28 k parameters, 15 pairs, five folds per onnxruntime run) the recursion cost as much CPU as the evaluations.
 */
function twoLoop(g: Float64Array, s: Float32Array[], y: Float32Array[], rho: number[], gamma: number, alpha: Float64Array, d: Float64Array): void {
  const n = g.length;
  const m = s.length;
  // First loop, newest pair first: α_k = ρ_k s_kᵀd, then d −= α_k y_k.
  let acc = 0;
  let sk = s[m - 1];
  for (let j = 0; j < n; j++) {
    d[j] = g[j];
    acc += sk[j] * g[j];
  }
  for (let k = m - 1; k >= 0; k--) {
    const a = (alpha[k] = rho[k] * acc);
    const yk = y[k];
    acc = 0;
    if (k > 0) {
      sk = s[k - 1];
      for (let j = 0; j < n; j++) {
        const v = d[j] - a * yk[j];
        d[j] = v;
        acc += sk[j] * v;
      }
    } else {
      // Last update of the first loop, scaled by γ, with y_0ᵀd for the second loop in the same pass.
      const y0 = y[0];
      for (let j = 0; j < n; j++) {
        const v = (d[j] - a * yk[j]) * gamma;
        d[j] = v;
        acc += y0[j] * v;
      }
    }
  }
  // Second loop, oldest pair first: β_k = ρ_k y_kᵀd, then d += (α_k − β_k) s_k; the last pass also negates.
  for (let k = 0; k < m; k++) {
    const c = alpha[k] - rho[k] * acc;
    const sk2 = s[k];
    acc = 0;
    if (k < m - 1) {
      const next = y[k + 1];
      for (let j = 0; j < n; j++) {
        const v = d[j] + c * sk2[j];
        d[j] = v;
        acc += next[j] * v;
      }
    } else {
      for (let j = 0; j < n; j++) d[j] = -(d[j] + c * sk2[j]);
    }
  }
}

function dot(a: Float64Array | Float32Array, b: Float64Array | Float32Array): number {
  const n = a.length;
  const m = n - (n % 4);
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let j = 0; j < m; j += 4) {
    s0 += a[j] * b[j];
    s1 += a[j + 1] * b[j + 1];
    s2 += a[j + 2] * b[j + 2];
    s3 += a[j + 3] * b[j + 3];
  }
  for (let j = m; j < n; j++) s0 += a[j] * b[j];
  return (s0 + s1) + (s2 + s3);
}

/** direction = −g / ‖g‖: the steepest-descent step of unit length. */
function unitDescent(g: Float64Array, direction: Float64Array): void {
  const norm = Math.max(Math.sqrt(dot(g, g)), 1e-12);
  for (let j = 0; j < g.length; j++) direction[j] = -g[j] / norm;
}

function maxAbs(x: Float64Array): number {
  let m = 0;
  for (let j = 0; j < x.length; j++) {
    const v = x[j] < 0 ? -x[j] : x[j];
    if (v > m) m = v;
  }
  return m;
}
