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
}

/** The sum of squares of g over the span. */
export function sumSquaresOver(backend: Backend, g: Float32Array, s: SupportSpan): number {
  let sq = backend.sumSquares(g.subarray(s.from, s.to));
  if (s.rows.length > 0) sq += backend.sumSquaresRows(g, s.rows, s.rows.length, s.V, s.D);
  return sq;
}

/** p -= lr * g over the span, then g = 0 there when zeroGrad. */
export function sgdUpdateOver(backend: Backend, p: Float32Array, g: Float32Array, lr: number, zeroGrad: boolean, s: SupportSpan): void {
  backend.sgdUpdate(p.subarray(s.from, s.to), g.subarray(s.from, s.to), lr, zeroGrad);
  if (s.rows.length > 0) backend.sgdUpdateRows(p, g, lr, s.rows, s.rows.length, s.V, s.D, zeroGrad);
}

/** y += x over the span, returning the sum of squares of the new y there; then x = 0 there when zeroX. */
export function addSumSquaresOver(backend: Backend, y: Float32Array, x: Float32Array, zeroX: boolean, s: SupportSpan): number {
  let sq = backend.addSumSquares(y.subarray(s.from, s.to), x.subarray(s.from, s.to), zeroX);
  if (s.rows.length > 0) sq += backend.addSumSquaresRows(y, x, s.rows, s.rows.length, s.V, s.D, zeroX);
  return sq;
}

/**
 * Where a model's flat gradient can be non-zero after a backward, so that the passes over it (the clipping norm,
 * the update with its zeroing, the workers' block sums) visit only that. With untied weights the embedding's
 * gradient (embed.W [V,D], the first V*D floats) is written only in the rows of the batch's word ids, about a tenth
 * of them on PTB; everything after it is dense. With tied weights (or no sparse rows) all of it is dense.
 *
 * `rows[0..rowCount)` are the distinct ids of the last `setIds` batch, ascending, in shared memory so that worker
 * threads read them; a pass visits those rows of [0, denseFrom) and all of [denseFrom, length). Skipping a zero row
 * changes nothing: its update is -lr * 0 and its squares add 0.
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

  constructor(model: LanguageModel) {
    const sparse = model.sparseRows;
    this.V = sparse?.V ?? 0;
    this.D = sparse?.D ?? 0;
    this.denseFrom = this.V * this.D;
    this.length = model.flatGrads.length;
    this.rows = new Int32Array(new SharedArrayBuffer(Math.max(1, this.V) * 4));
    this.seen = new Uint8Array(this.V);
  }

  /** The rows of the batch with word ids xs (ids outside [0, V) are left to the embedding to refuse). */
  setIds(xs: Int32Array): this {
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

  /** The whole support as one span. */
  span(): SupportSpan {
    return { from: this.denseFrom, to: this.length, rows: this.rows.subarray(0, this.rowCount), V: this.V, D: this.D };
  }

  /** The sum of squares of g over the support. */
  sumSquares(backend: Backend, g: Float32Array): number {
    return sumSquaresOver(backend, g, this.span());
  }

  /** p -= lr * g over the support, then g = 0 there when zeroGrad (everywhere else it already is). */
  sgdUpdate(backend: Backend, p: Float32Array, g: Float32Array, lr: number, zeroGrad: boolean): void {
    sgdUpdateOver(backend, p, g, lr, zeroGrad, this.span());
  }
}
