import type { Backend } from './backend';
import type { LanguageModel } from './model';

/**
 * A piece of a gradient's support: the dense floats [from, to) and the rows `rows` (of D floats, ids in [0, V)) of
 * the sparse part. The passes below take whole flat arrays and visit only the span; the serial trainer passes
 * the whole support, each worker its own part of it.
 */
export interface SupportSpan {
  from: number;
  to: number;
  rows: Int32Array;
  V: number;
  D: number;
  /** Where the [V,D] matrix of the rows begins in the flat arrays (default 0: the embedding). */
  base?: number;
}

/** The sum of squares of g over the span. */
export function sumSquaresOver(backend: Backend, g: Float32Array, s: SupportSpan): number {
  let sq = backend.sumSquares(g.subarray(s.from, s.to));
  if (s.rows.length > 0) sq += backend.sumSquaresRows(g.subarray(s.base ?? 0), s.rows, s.rows.length, s.V, s.D);
  return sq;
}

/** y += x over the span, returning the sum of squares of the new y there; then x = 0 there when zeroX. */
export function addSumSquaresOver(backend: Backend, y: Float32Array, x: Float32Array, zeroX: boolean, s: SupportSpan): number {
  let sq = backend.addSumSquares(y.subarray(s.from, s.to), x.subarray(s.from, s.to), zeroX);
  if (s.rows.length > 0) sq += backend.addSumSquaresRows(y, x, s.rows, s.rows.length, s.V, s.D, zeroX);
  return sq;
}

/**
 * Where a model's flat gradient can be non-zero after a backward, so that the passes over it (the clipping norm,
 * the optimizer's update with its zeroing, the workers' block sums) visit only that. With untied weights the embedding's
 * gradient (embed.W [V,D], the first V*D floats) is written only in the rows of the batch's word ids, about a tenth
 * of them on PTB; everything after it is dense. With tied weights (or no sparse rows) all of it is dense.
 *
 * `rows[0..rowCount)` are the distinct ids of the last `setIds` batch, ascending, in shared memory so that worker
 * threads read them; a pass visits those rows of [0, denseFrom) and all of [denseFrom, length). Skipping a zero row
 * changes nothing: its update is -lr * 0 and its squares add 0.
 *
 * An output layer with a row-sparse gradient of its own (OutputHead.sparseRows: the tree output's node vectors)
 * is skipped the same way by the serial passes (sumSquares, sgdUpdate) once setIds was given the batch's targets;
 * `span()`, which the parallel engine divides among its workers, still covers it whole.
 */
export class GradientSupport {
  readonly rows: Int32Array;
  rowCount = 0;
  /** Rows of the sparse part (V) and floats per row (D); 0 and 0 when all is dense. */
  readonly V: number;
  readonly D: number;
  /** The dense part is [denseFrom, length). */
  readonly denseFrom: number;
  readonly length: number;
  private readonly seen: Uint8Array;
  private readonly output?: { offset: number; V: number; D: number; mark: (ts: Int32Array, seen: Uint8Array) => void; seen: Uint8Array; rows: Int32Array };
  /** How many output rows the last setIds found; -1 when it was not given the targets. */
  private outputCount = -1;

  constructor(model: LanguageModel) {
    const sparse = model.sparseRows;
    this.V = sparse?.V ?? 0;
    this.D = sparse?.D ?? 0;
    this.denseFrom = this.V * this.D;
    this.length = model.flatGrads.length;
    this.rows = new Int32Array(new SharedArrayBuffer(Math.max(1, this.V) * 4));
    this.seen = new Uint8Array(this.V);
    const out = model.head.sparseRows;
    if (out) this.output = { ...out, seen: new Uint8Array(out.V), rows: new Int32Array(out.V) };
  }

  /**
   * The rows of the batch with word ids xs (ids outside [0, V) are left to the embedding to refuse), and with its
   * targets ts, the output layer's rows.
   */
  setIds(xs: Int32Array, ts?: Int32Array): this {
    this.setOutputRows(ts);
    if (this.V === 0) return this;
    const { seen, rows, V } = this;
    for (let i = 0; i < this.rowCount; i++) seen[rows[i]] = 0;
    for (let i = 0; i < xs.length; i++) {
      const id = xs[i];
      if (id >= 0 && id < V) seen[id] = 1;
    }
    let n = 0;
    for (let id = 0; id < V; id++) if (seen[id] === 1) rows[n++] = id;
    this.rowCount = n;
    return this;
  }

  private setOutputRows(ts: Int32Array | undefined): void {
    const out = this.output;
    if (!out) return;
    if (ts === undefined) {
      this.outputCount = -1;
      return;
    }
    for (let i = 0; i < Math.max(0, this.outputCount); i++) out.seen[out.rows[i]] = 0;
    out.mark(ts, out.seen);
    let n = 0;
    for (let r = 0; r < out.V; r++) if (out.seen[r] === 1) out.rows[n++] = r;
    this.outputCount = n;
  }

  /** The whole support as one span (the output layer's rows dense). */
  span(): SupportSpan {
    return { from: this.denseFrom, to: this.length, rows: this.rows.subarray(0, this.rowCount), V: this.V, D: this.D };
  }

  /** The support as the serial passes visit it: with the output layer's rows known, two spans around them. */
  spans(): SupportSpan[] {
    const out = this.output;
    if (!out || this.outputCount < 0) return [this.span()];
    const end = out.offset + out.V * out.D;
    return [
      { from: this.denseFrom, to: out.offset, rows: this.rows.subarray(0, this.rowCount), V: this.V, D: this.D },
      { from: end, to: this.length, rows: out.rows.subarray(0, this.outputCount), V: out.V, D: out.D, base: out.offset },
    ];
  }

  /** The sum of squares of g over the support. */
  sumSquares(backend: Backend, g: Float32Array): number {
    return this.spans().reduce((sum, s) => sum + sumSquaresOver(backend, g, s), 0);
  }
}
