import type { Backend } from './backend';
import type { LanguageModel } from './model';

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

  /** The sum of squares of g over the support. */
  sumSquares(backend: Backend, g: Float32Array): number {
    let s = backend.sumSquares(g.subarray(this.denseFrom, this.length));
    if (this.rowCount > 0) s += backend.sumSquaresRows(g, this.rows.subarray(0, this.rowCount), this.rowCount, this.V, this.D);
    return s;
  }

  /** p -= lr * g over the support, then g = 0 there when zeroGrad (everywhere else it already is). */
  sgdUpdate(backend: Backend, p: Float32Array, g: Float32Array, lr: number, zeroGrad: boolean): void {
    if (this.rowCount > 0) backend.sgdUpdateRows(p, g, lr, this.rows.subarray(0, this.rowCount), this.rowCount, this.V, this.D, zeroGrad);
    backend.sgdUpdate(p.subarray(this.denseFrom, this.length), g.subarray(this.denseFrom, this.length), lr, zeroGrad);
  }
}
