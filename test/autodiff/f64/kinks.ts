/**
 * Where a piecewise-linear op (ReLU, LeakyReLU, Clip, HardSigmoid, HardSwish, Abs, Elu, max-pooling, a
 * comparison) sits relative to its kinks during one float64 forward pass: the smallest distance of any input
 * to a kink (or the smallest winner gap of a max window), and a hash of which piece every element is on.
 * Finite differences are exact only if both perturbed points stay on the base point's pieces (same hash), and
 * a float32 forward picks the same pieces as the float64 one only if every distance exceeds its rounding error.
 */
export class KinkMonitor {
  /** Smallest distance to a kink seen, per op type. */
  readonly margins = new Map<string, number>();
  /** How many elements were checked, per op type. */
  readonly checked = new Map<string, number>();
  /** Elements exactly at a kink (constants), per op type. */
  readonly exact = new Map<string, number>();
  /** Elements closer than `near` to a kink (but not at it), per op type. */
  readonly nearCount = new Map<string, number>();
  private hash = 0x811c9dc5;

  constructor(readonly near = 0) {}

  /** Starts recording one op's elements; `done()` adds its statistics (per-element calls stay Map-free). */
  begin(op: string): OpKinks {
    return new OpKinks(this, op);
  }

  /** Mixes one element's piece into the pattern hash. */
  piece(p: number): void {
    this.hash = Math.imul(this.hash ^ (p + 1), 0x01000193);
  }

  /** Adds an op's statistics. */
  add(op: string, n: number, min: number, near: number, exact: number): void {
    this.checked.set(op, (this.checked.get(op) ?? 0) + n);
    if (min < (this.margins.get(op) ?? Infinity)) this.margins.set(op, min);
    if (near > 0) this.nearCount.set(op, (this.nearCount.get(op) ?? 0) + near);
    if (exact > 0) this.exact.set(op, (this.exact.get(op) ?? 0) + exact);
  }

  /** The smallest distance over all ops (Infinity when the graph has no kinks). */
  get margin(): number {
    return Math.min(Infinity, ...this.margins.values());
  }

  get totalChecked(): number {
    let n = 0;
    for (const v of this.checked.values()) n += v;
    return n;
  }

  get totalNear(): number {
    let n = 0;
    for (const v of this.nearCount.values()) n += v;
    return n;
  }

  /** Identifies the set of pieces all elements were on. */
  get pattern(): number {
    return this.hash >>> 0;
  }

  describe(): string {
    return [...this.checked.keys()].map((op) => `${op}: ${this.checked.get(op)} checked, ${this.exact.get(op) ?? 0} exactly at a kink, ` +
      `${this.nearCount.get(op) ?? 0} within ${this.near}, min distance ${(this.margins.get(op) ?? Infinity).toExponential(2)}`).join('; ');
  }
}

/** One op's elements as they are recorded. */
export class OpKinks {
  private n = 0;
  private min = Infinity;
  private near = 0;
  private exact = 0;

  constructor(private readonly monitor: KinkMonitor, private readonly op: string) {}

  /** One element: its distance to the nearest kink (relative) and the piece it is on. */
  record(distance: number, piece: number): void {
    this.monitor.piece(piece);
    this.n++;
    if (distance === 0) {
      // Exactly at a kink: in float64 from random inputs only a clamped constant lands there (a depthwise conv
      // over ReLU6 zeros gives exactly 0, as it does in float32); it has zero gradient. One that does move
      // leaves its piece under one of the two finite-difference steps and fails the pattern check.
      this.exact++;
      return;
    }
    if (distance < this.min) this.min = distance;
    if (distance < this.monitor.near) this.near++;
  }

  done(): void {
    this.monitor.add(this.op, this.n, this.min, this.near, this.exact);
  }
}
