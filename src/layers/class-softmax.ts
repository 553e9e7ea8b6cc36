import { resolveBackend, type Backend } from '../backend';
import { ensureF32, expectLength } from './buffers';
import type { LayerOptions } from './embedding';
import { IGNORE_LABEL } from './softmax';

/**
 * TimeClassSoftmaxWithLoss: the class-factored output layer of Goodman (2001) and Mikolov's rnnlm toolkit.
 * The vocabulary is cut into C classes of consecutive word ids, class c holding ids bounds[c] .. bounds[c+1]-1, and
 *
 *   P(w | h) = P(c(w) | h) * P(w | c(w), h),   P(c | h) = softmax(h Wc + bc)[c],
 *   P(w | c, h) = softmax over the words of c of (h W + b)[w],
 *
 * an exactly normalised distribution over the vocabulary, so its perplexity is a true perplexity. Training and
 * evaluation pay for C + |class of the target| output scores per position instead of V: the class scores as one
 * product for all N*T positions, the in-class scores by grouping the positions by their target's class, one
 * product per class against that class's columns of W (a block of consecutive columns: no gather of weights).
 * The layer groups the positions; the backend's classSoftmaxForward/Backward do the arithmetic.
 *
 * h [N,T,H] -> loss (the mean over positions whose target is not -1); backward -> dh [N,T,H]. W is the word output
 * matrix [H,V] (affine.W), or with `transposed` the embedding [V,H] (tied weights); b [V]; Wc [H,C]; bc [C].
 * params = [W, b, Wc, bc]; backward accumulates into the gradients.
 */
export class TimeClassSoftmaxWithLoss {
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  readonly H: number;
  readonly V: number;
  readonly C: number;
  readonly transposed: boolean;
  /** Class boundaries [C+1]: 0 = bounds[0] < bounds[1] < ... < bounds[C] = V. */
  readonly bounds: Int32Array;
  /** The class of every word id [V]. */
  readonly classOf: Int32Array;
  private readonly backend: Backend;
  private h?: Float32Array;
  private R = 0;
  private count = 0;
  private consumed = true;
  // Per forward: targets, class targets, positions grouped by class, and the backend op's outputs.
  private ts = new Int32Array(0);
  private ct = new Int32Array(0);
  private order = new Int32Array(0);
  private readonly groups: Int32Array;
  private readonly fill: Int32Array;
  private zs: Float32Array = new Float32Array(0);
  private zp: Float32Array = new Float32Array(0);
  private hg: Float32Array = new Float32Array(0);
  private probs: Float32Array = new Float32Array(0);
  private dh: Float32Array = new Float32Array(0);
  private work: Float32Array = new Float32Array(0);

  constructor(W: Float32Array, b: Float32Array, Wc: Float32Array, bc: Float32Array, bounds: ArrayLike<number>, H: number, V: number,
    opts: LayerOptions & { dW: Float32Array; db: Float32Array; dWc: Float32Array; dbc: Float32Array; transposed?: boolean }) {
    this.C = checkClassBounds(bounds, V);
    this.bounds = Int32Array.from(bounds);
    this.H = H;
    this.V = V;
    this.transposed = opts.transposed ?? false;
    const wShape = this.transposed ? 'V*H' : 'H*V';
    expectLength('W', W, H * V, wShape);
    expectLength('b', b, V, 'V');
    expectLength('Wc', Wc, H * this.C, 'H*C');
    expectLength('bc', bc, this.C, 'C');
    expectLength('dW', opts.dW, H * V, wShape);
    expectLength('db', opts.db, V, 'V');
    expectLength('dWc', opts.dWc, H * this.C, 'H*C');
    expectLength('dbc', opts.dbc, this.C, 'C');
    this.backend = resolveBackend(opts.backend);
    this.params = [W, b, Wc, bc];
    this.grads = [opts.dW, opts.db, opts.dWc, opts.dbc];
    this.groups = new Int32Array(this.C + 1);
    this.fill = new Int32Array(this.C);
    this.classOf = new Int32Array(V);
    for (let c = 0; c < this.C; c++) this.classOf.fill(c, this.bounds[c], this.bounds[c + 1]);
  }

  /** The class scores z = h Wc + bc [R,C] into `out`. */
  private classScores(out: Float32Array, h: Float32Array, R: number): void {
    this.backend.affineForward(out, h, this.params[2], this.params[3], false, R, this.H, this.C);
  }

  /** h [N,T,H], ts [N,T] -> the mean of -log P(ts | h) over positions whose target is not -1. h is kept (not copied). */
  forward(h: Float32Array, ts: Int32Array, N: number, T: number): number {
    const { H, V, C } = this;
    const R = N * T;
    expectLength('h', h, R * H, 'N*T*H');
    expectLength('ts', ts, R, 'N*T');
    this.h = h;
    this.R = R;
    if (this.ct.length !== R) {
      this.ct = new Int32Array(R);
      this.order = new Int32Array(R);
      this.ts = new Int32Array(R);
    }
    this.ts.set(ts);
    // Class targets, and the positions grouped by class (a counting sort, stable in r): groups[c] .. groups[c+1]-1
    // index the rows of class c in order.
    const groups = this.groups;
    groups.fill(0);
    let count = 0;
    for (let r = 0; r < R; r++) {
      const t = ts[r];
      if (t === IGNORE_LABEL) {
        this.ct[r] = IGNORE_LABEL;
        continue;
      }
      if (!(Number.isInteger(t) && t >= 0 && t < V)) throw new RangeError(`Expected ts[${r}] in [0, ${V}) or -1 but received ${t}`);
      this.ct[r] = this.classOf[t];
      groups[this.ct[r] + 1]++;
      count++;
    }
    this.count = count;
    let probs = 0;
    for (let c = 0; c < C; c++) {
      probs += groups[c + 1] * (this.bounds[c + 1] - this.bounds[c]);
      groups[c + 1] += groups[c];
    }
    const fill = this.fill;
    fill.set(groups.subarray(0, C));
    for (let r = 0; r < R; r++) {
      const c = this.ct[r];
      if (c !== IGNORE_LABEL) this.order[fill[c]++] = r;
    }
    this.zs = ensureF32(this.zs, R * C);
    this.zp = ensureF32(this.zp, R * C);
    this.hg = ensureF32(this.hg, R * H);
    if (this.probs.length < probs) this.probs = new Float32Array(probs);
    const [W, b, Wc, bc] = this.params;
    const lossSum = this.backend.classSoftmaxForward(this.zs, this.zp, this.probs, this.hg, h, W, b, Wc, bc, this.bounds,
      this.ct, this.order, groups, this.ts, this.transposed, R, H, V, C);
    this.consumed = false;
    return count === 0 ? 0 : lossSum / count;
  }

  /** dout (the loss's gradient, 1 by default) -> dh [N,T,H]; adds to dW, db, dWc, dbc. Once per forward. */
  backward(dout = 1): Float32Array {
    if (!this.h) throw new Error('TimeClassSoftmaxWithLoss.backward called before forward');
    if (this.consumed) throw new Error('TimeClassSoftmaxWithLoss.backward called twice for one forward');
    this.consumed = true;
    const { H, V, C, R } = this;
    const [W, , Wc] = this.params;
    const [dW, db, dWc, dbc] = this.grads;
    const scale = this.count === 0 ? 0 : dout / this.count;
    this.dh = ensureF32(this.dh, R * H);
    this.work = ensureF32(this.work, R * H);
    this.backend.classSoftmaxBackward(this.dh, dW, db, dWc, dbc, this.work, this.zp, this.probs, this.hg, this.h, W, Wc,
      this.bounds, this.ct, this.order, this.groups, this.ts, scale, this.transposed, R, H, V, C);
    return this.dh;
  }

  /**
   * Natural log-probabilities of every word at every position, out [N,T,V] (for generation and scoring: their
   * softmax is the model's distribution). Costs the full V scores per position, as a full softmax does.
   */
  logProbs(out: Float32Array, h: Float32Array, N: number, T: number): Float32Array {
    const { H, V, C } = this;
    const R = N * T;
    expectLength('h', h, R * H, 'N*T*H');
    expectLength('out', out, R * V, 'N*T*V');
    this.backend.affineForward(out, h, this.params[0], this.params[1], this.transposed, R, H, V);
    const z = new Float32Array(R * C);
    this.classScores(z, h, R);
    for (let r = 0; r < R; r++) {
      const zr = z.subarray(r * C, r * C + C);
      const zl = logSumExp(zr, 0, C);
      for (let c = 0; c < C; c++) {
        const lo = r * V + this.bounds[c], hi = r * V + this.bounds[c + 1];
        const shift = zr[c] - zl - logSumExp(out, lo, hi);
        for (let i = lo; i < hi; i++) out[i] += shift;
      }
    }
    return out;
  }
}

function logSumExp(x: Float32Array, lo: number, hi: number): number {
  let m = -Infinity;
  for (let i = lo; i < hi; i++) m = x[i] > m ? x[i] : m;
  let s = 0;
  for (let i = lo; i < hi; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}

/** Checks class boundaries for a vocabulary of V words (0 = b[0] < b[1] < ... < b[C] = V) and returns C. */
export function checkClassBounds(bounds: ArrayLike<number>, V: number): number {
  const C = bounds.length - 1;
  if (C < 1) throw new RangeError(`Expected class boundaries [0, ..., ${V}] of at least 2 entries but received ${bounds.length}`);
  if (bounds[0] !== 0 || bounds[C] !== V) {
    throw new RangeError(`Expected class boundaries from 0 to the vocabulary size ${V} but received ${bounds[0]} .. ${bounds[C]}`);
  }
  for (let c = 0; c < C; c++) {
    if (!Number.isInteger(bounds[c + 1]) || !(bounds[c + 1] > bounds[c])) {
      throw new RangeError(`Expected increasing integer class boundaries but boundary ${c + 1} is ${bounds[c + 1]} after ${bounds[c]}`);
    }
  }
  return C;
}

/**
 * Frequency classes as Mikolov's rnnlm makes them: words sorted by count (most frequent first, `counts` in that
 * order) are cut where the cumulative share of the tokens passes 1/C, 2/C, ...; so frequent words get small classes
 * and rare words share large ones. Returns the boundaries (at most C classes; fewer when frequent words take more
 * than a share each).
 */
export function frequencyClasses(counts: ArrayLike<number>, C: number): number[] {
  const V = counts.length;
  if (!(Number.isSafeInteger(C) && C >= 1)) throw new RangeError(`Expected a positive integer class count but received ${C}`);
  let total = 0;
  for (let i = 0; i < V; i++) total += counts[i];
  const bounds = [0];
  let cum = 0;
  for (let i = 0; i < V; i++) {
    cum += total > 0 ? counts[i] / total : 1 / V;
    // The class of word i ends here when the mass so far passes the next share (and words remain for later classes).
    if (i < V - 1 && cum > bounds.length / C && bounds.length < C) bounds.push(i + 1);
  }
  bounds.push(V);
  return bounds;
}

/** How often each word id 0..V-1 occurs in `ids`. */
export function wordCounts(ids: ArrayLike<number>, V: number): Float64Array {
  const counts = new Float64Array(V);
  for (let i = 0; i < ids.length; i++) counts[ids[i]]++;
  return counts;
}

/**
 * Word ids renumbered by frequency in `ids` (most frequent first; ties keep their order): `order[newId] = oldId`
 * and `remap[oldId] = newId`, for a vocabulary of V words; `counts` are in the new order.
 */
export function frequencyOrder(ids: ArrayLike<number>, V: number): { order: Int32Array; remap: Int32Array; counts: Float64Array } {
  const counts = wordCounts(ids, V);
  const order = Int32Array.from({ length: V }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
  const remap = new Int32Array(V);
  order.forEach((old, i) => { remap[old] = i; });
  return { order, remap, counts: Float64Array.from(order, (old) => counts[old]) };
}
