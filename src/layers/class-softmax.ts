import { resolveBackend, type Backend } from '../backend';
import type { ClassSoftmaxGrads, ClassSoftmaxOp } from '../backend/types';
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
 * The layer groups the positions; the backend's classSoftmaxForward/Backward do the arithmetic. A parallel training
 * step splits the layer (stepClasses on each worker's rows, stepWords on each worker's range of classes over every
 * row: see ParallelEngine), which makes the same loss and gradients.
 *
 * h [N,T,H] -> loss (the mean over positions whose target is not -1); backward -> dh [N,T,H]. W is the word output
 * matrix [H,V] (affine.W), or with `transposed` the embedding [V,H] (tied weights); b [V]; Wc [H,C]; bc [C].
 * params = [W, b, Wc, bc]; backward accumulates into the gradients.
 */
/**
 * classParts' estimate of a class's work, (m + CLASS_ROW_WORDS) n + CLASS_READ_ROWS m for n targets in a class of m
 * words: each row's products and softmax over the class's words, each row's own passes (gathering its h, adding
 * its dh back: as much as this many more words), and the class's columns of W and of their gradient, read (and
 * written) once, as much as this many more rows. Fitted on PTB with 100 exchange classes and two workers, where the
 * products alone (n m) left the part of the frequent classes 40% slower: the best CLASS_ROW_WORDS was about 50 for
 * a 2-layer LSTM 200 at batch 20 (7 rows per class) and about 120 for an RNN 100 at batch 64 (22 rows per class);
 * 80 keeps both within about 10%.
 */
const CLASS_ROW_WORDS = 80;
const CLASS_READ_ROWS = 8;

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
  /** classParts' target count and estimated work per class. */
  private readonly partRows: Float64Array;
  private readonly partCost: Float64Array;
  private zs: Float32Array = new Float32Array(0);
  private zp: Float32Array = new Float32Array(0);
  private hg: Float32Array = new Float32Array(0);
  private probs: Float32Array = new Float32Array(0);
  private dh: Float32Array = new Float32Array(0);
  private work: Float32Array = new Float32Array(0);
  /** The backend ops' description, made once; forwardOps fills in the call's rows, targets and scratch. */
  private readonly op: ClassSoftmaxOp;
  private readonly gradOp: ClassSoftmaxGrads;

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
    this.partRows = new Float64Array(this.C);
    this.partCost = new Float64Array(this.C);
    this.classOf = new Int32Array(V);
    for (let c = 0; c < this.C; c++) this.classOf.fill(c, this.bounds[c], this.bounds[c + 1]);
    this.op = {
      R: 0, H, V, C: this.C, W, b, Wc, bc, transW: this.transposed, bounds: this.bounds, ct: this.ct, order: this.order, groups: this.groups,
      ts: this.ts, classes: true, zs: this.zs, zp: this.zp, hg: this.hg, probs: this.probs,
    };
    this.gradOp = { dW: opts.dW, db: opts.db, dWc: opts.dWc, dbc: opts.dbc };
  }

  /** The class scores z = h Wc + bc [R,C] into `out`. */
  private classScores(out: Float32Array, h: Float32Array, R: number): void {
    this.backend.affineForward(out, h, this.params[2], this.params[3], false, R, this.H, this.C);
  }

  /**
   * Fills ct (every row's target class) and groups the rows whose target's class is in [c0, c1) by class (a counting
   * sort, stable in r): order[groups[c]] .. order[groups[c+1]-1] are the rows of class c; the other classes' groups
   * are empty. Returns the rows with a target (all classes) and the length probs needs.
   */
  private group(ts: Int32Array, R: number, c0: number, c1: number): { count: number; probs: number } {
    const { V, C } = this;
    if (this.ct.length < R) {
      this.ct = new Int32Array(R);
      this.order = new Int32Array(R);
    }
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
      const c = this.classOf[t];
      this.ct[r] = c;
      if (c >= c0 && c < c1) groups[c + 1]++;
      count++;
    }
    let probs = 0;
    for (let c = 0; c < C; c++) {
      probs += groups[c + 1] * (this.bounds[c + 1] - this.bounds[c]);
      groups[c + 1] += groups[c];
    }
    const fill = this.fill;
    fill.set(groups.subarray(0, C));
    for (let r = 0; r < R; r++) {
      const c = this.ct[r];
      if (c >= c0 && c < c1) this.order[fill[c]++] = r;
    }
    return { count, probs };
  }

  /**
   * The backend ops' scratch for R rows and `probs` in-class probabilities, grown, never shrunk: a split step
   * alternates the class part on a slice's rows with the words on all of them (the ops take longer buffers).
   */
  private buffers(R: number, probs: number): void {
    const { H, C } = this;
    const grow = (b: Float32Array, n: number): Float32Array => (b.length < n ? new Float32Array(n) : b);
    this.zs = grow(this.zs, R * C);
    this.zp = grow(this.zp, R * C);
    this.hg = grow(this.hg, R * H);
    this.work = grow(this.work, R * H);
    this.probs = grow(this.probs, probs);
  }

  /** h [N,T,H], ts [N,T] -> the mean of -log P(ts | h) over positions whose target is not -1. h is kept (not copied). */
  forward(h: Float32Array, ts: Int32Array, N: number, T: number): number {
    const { H, C } = this;
    const R = N * T;
    expectLength('h', h, R * H, 'N*T*H');
    expectLength('ts', ts, R, 'N*T');
    if (this.ts.length !== R) this.ts = new Int32Array(R);
    this.ts.set(ts);
    const { count, probs } = this.group(ts, R, 0, C);
    this.h = h;
    this.R = R;
    this.count = count;
    this.buffers(R, probs);
    const lossSum = this.forwardOps(h, this.ts, R, true);
    this.consumed = false;
    return count === 0 ? 0 : lossSum / count;
  }

  /** dout (the loss's gradient, 1 by default) -> dh [N,T,H]; adds to dW, db, dWc, dbc. Once per forward. */
  backward(dout = 1): Float32Array {
    if (!this.h) throw new Error('TimeClassSoftmaxWithLoss.backward called before forward');
    if (this.consumed) throw new Error('TimeClassSoftmaxWithLoss.backward called twice for one forward');
    this.consumed = true;
    const { H, R } = this;
    const scale = this.count === 0 ? 0 : dout / this.count;
    this.dh = ensureF32(this.dh, R * H);
    this.backwardOps(this.dh, this.h, this.ts, R, scale, true);
    return this.dh;
  }

  /** The op's description for this call: its rows, targets and part, and the scratch as it is now. */
  private describe(ts: Int32Array, R: number, classes: boolean): ClassSoftmaxOp {
    const op = this.op;
    op.R = R;
    op.ts = ts;
    op.classes = classes;
    op.ct = this.ct;
    op.order = this.order;
    op.zs = this.zs;
    op.zp = this.zp;
    op.hg = this.hg;
    op.probs = this.probs;
    return op;
  }

  private forwardOps(h: Float32Array, ts: Int32Array, R: number, classes: boolean): number {
    return this.backend.classSoftmaxForward(this.describe(ts, R, classes), h);
  }

  private backwardOps(dh: Float32Array, h: Float32Array, ts: Int32Array, R: number, scale: number, classes: boolean): void {
    this.backend.classSoftmaxBackward(this.describe(ts, R, classes), h, dh, this.gradOp, this.work, scale);
  }

  /**
   * A training step's class part on its own rows h [R,H], ts [R] (a parallel step splits the layer: see stepWords):
   * forward and backward of -log P(class) with gradient scale `scale` (dout over the batch's count); writes dh [R,H],
   * adds to dWc and dbc. Returns the summed loss. A forward waiting for its backward is dropped.
   */
  stepClasses(h: Float32Array, ts: Int32Array, R: number, scale: number, dh: Float32Array): number {
    return this.step(h, ts, R, 0, 0, scale, dh, true);
  }

  /**
   * A training step's words part for the classes [c0, c1) over all of a batch's rows h [R,H], ts [R]: forward and
   * backward of -log P(word | class) for the rows whose target is in those classes, with gradient scale `scale`;
   * adds their gradient to those rows of dh [R,H] and to dW and db (only the columns of those classes). Ranges that
   * cover the classes once, with stepClasses on every row, make forward and backward. Returns the summed loss.
   */
  stepWords(h: Float32Array, ts: Int32Array, R: number, c0: number, c1: number, scale: number, dh: Float32Array): number {
    if (!(Number.isInteger(c0) && Number.isInteger(c1) && c0 >= 0 && c0 <= c1 && c1 <= this.C)) {
      throw new RangeError(`Expected classes 0 <= c0 <= c1 <= ${this.C} but received ${c0} .. ${c1}`);
    }
    return this.step(h, ts, R, c0, c1, scale, dh, false);
  }

  private step(h: Float32Array, ts: Int32Array, R: number, c0: number, c1: number, scale: number, dh: Float32Array, classes: boolean): number {
    const { H } = this;
    expectLength('h', h, R * H, 'R*H');
    expectLength('ts', ts, R, 'R');
    expectLength('dh', dh, R * H, 'R*H');
    this.h = undefined;
    const { probs } = this.group(ts, R, c0, c1);
    this.buffers(R, probs);
    const lossSum = this.forwardOps(h, ts, R, classes);
    this.backwardOps(dh, h, ts, R, scale, classes);
    return lossSum;
  }

  /**
   * Class ranges for `parts` workers' stepWords over targets ts: parts + 1 bounds from 0 to C, cut where the
   * estimated work (CLASS_ROW_WORDS) is about equal. A pure function of ts.
   */
  classParts(ts: Int32Array, parts: number): number[] {
    const { C } = this;
    const n = this.partRows, cost = this.partCost;
    n.fill(0);
    for (let r = 0; r < ts.length; r++) {
      const c = this.classOf[ts[r]]; // undefined for -1 (and for targets out of range, which the step refuses)
      if (c !== undefined) n[c]++;
    }
    let total = 0;
    for (let c = 0; c < C; c++) {
      const m = this.bounds[c + 1] - this.bounds[c];
      cost[c] = n[c] === 0 ? 0 : (m + CLASS_ROW_WORDS) * n[c] + CLASS_READ_ROWS * m;
      total += cost[c];
    }
    const out = [0];
    let acc = 0, c = 0;
    for (let k = 1; k < parts; k++) {
      while (c < C && acc + cost[c] / 2 < (total * k) / parts) acc += cost[c++];
      out.push(c);
    }
    out.push(C);
    return out;
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
