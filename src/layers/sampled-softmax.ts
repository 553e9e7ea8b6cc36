import { resolveBackend, type Backend } from '../backend';
import { dropoutBase, dropoutBits } from '../backend/js';
import { ensureF32, expectLength } from './buffers';
import type { LayerOptions } from './embedding';
import { IGNORE_LABEL } from './softmax';

/** Where a sample of noise words comes from: with the run's seed, the iteration fixes it. */
export interface SampleKey {
  seed: number;
  iteration: number;
}

/** The hash site of the noise sampler (dropout layers use sites 0 .. layers). */
const SAMPLER_SITE = 0x5eed;

/**
 * Draws from a distribution over 0..V-1 by Walker's alias method: `draw(u, v)` maps two uniform 32-bit numbers to
 * a word, so a sample is a pure function of its random bits.
 */
export class AliasTable {
  readonly prob: Float64Array;
  readonly alias: Int32Array;
  /** The normalised distribution. */
  readonly q: Float64Array;

  constructor(weights: ArrayLike<number>) {
    const V = weights.length;
    let total = 0;
    for (let i = 0; i < V; i++) {
      if (!(weights[i] >= 0 && Number.isFinite(weights[i]))) throw new RangeError(`Expected finite weights >= 0 but weight ${i} is ${weights[i]}`);
      total += weights[i];
    }
    if (!(total > 0)) throw new RangeError('Expected weights with a positive sum');
    this.q = Float64Array.from(weights, (w) => w / total);
    this.prob = new Float64Array(V);
    this.alias = new Int32Array(V);
    const scaled = Float64Array.from(this.q, (p) => p * V);
    const small: number[] = [], large: number[] = [];
    scaled.forEach((p, i) => (p < 1 ? small : large).push(i));
    while (small.length > 0 && large.length > 0) {
      const s = small.pop()!, l = large.pop()!;
      this.prob[s] = scaled[s];
      this.alias[s] = l;
      scaled[l] = scaled[l] + scaled[s] - 1;
      (scaled[l] < 1 ? small : large).push(l);
    }
    for (const i of [...small, ...large]) {
      this.prob[i] = 1;
      this.alias[i] = i;
    }
  }

  /** The word for two uniform 32-bit integers: column u mod V, kept with probability prob, else its alias. */
  draw(u: number, v: number): number {
    const V = this.prob.length;
    const col = Math.floor((u / 4294967296) * V);
    return v / 4294967296 < this.prob[col] ? col : this.alias[col];
  }
}

/**
 * TimeSampledSoftmaxWithLoss: sampled softmax (Jean et al. 2015), a training objective for the full softmax's
 * weights that scores each position's target and k noise words instead of the whole vocabulary. The k words are
 * drawn (with replacement) from the unigram distribution raised to `power`, once per iteration for all positions,
 * as a pure function of (seed, iteration): serial, parallel and resumed runs draw the same. Each position's logits
 * are [s_t - log(k q(t)), s_j - log(k q(j)) for the noise words], a noise word equal to the target is left out
 * (-Infinity), and the loss is the cross-entropy of the target among them. Evaluation uses the exact full softmax
 * (the model switches in eval mode); the weights are the full softmax's.
 *
 * h [N,T,H], ts [N,T] -> loss; backward -> dh. W is [H,V] (affine.W) or, `transposed`, the embedding [V,H]; b [V].
 * The backend gathers the noise words' and targets' weights (gatherWords) and adds their gradients back
 * (scatterAddWords); the scores are products over all positions at once.
 * params = [W, b]; backward accumulates into the gradients.
 */
export class TimeSampledSoftmaxWithLoss {
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  readonly sampler: AliasTable;
  readonly transposed: boolean;
  private readonly backend: Backend;
  private readonly logQ: Float64Array;
  /** The last forward's noise words. */
  readonly noise: Int32Array;
  private h?: Float32Array;
  private R = 0;
  private count = 0;
  private consumed = true;
  private ts = new Int32Array(0);
  private tz = new Int32Array(0);
  /** Targets with -1 read as word 0 (their rows add nothing), for the gathers. */
  private tsafe = new Int32Array(0);
  private wt: Float32Array = new Float32Array(0);
  private dwt: Float32Array = new Float32Array(0);
  private ws: Float32Array;
  private dws: Float32Array;
  private z: Float32Array = new Float32Array(0);
  private p: Float32Array = new Float32Array(0);
  private dh: Float32Array = new Float32Array(0);
  private ones: Float32Array = new Float32Array(0);
  private dbs: Float32Array;
  private readonly bias: Float32Array;
  private readonly hitFirst: Int32Array;
  private readonly hitNext: Int32Array;

  constructor(W: Float32Array, b: Float32Array, readonly H: number, readonly V: number, counts: ArrayLike<number>,
    readonly samples: number, readonly power: number,
    opts: LayerOptions & { dW: Float32Array; db: Float32Array; transposed?: boolean }) {
    if (!(Number.isSafeInteger(samples) && samples >= 1)) throw new RangeError(`Expected a positive integer of noise samples but received ${samples}`);
    if (!(power >= 0 && power <= 1)) throw new RangeError(`Expected a noise power in [0, 1] but received ${power}`);
    expectLength('counts', counts, V, 'V');
    expectLength('W', W, H * V, opts.transposed ? 'V*H' : 'H*V');
    expectLength('b', b, V, 'V');
    expectLength('dW', opts.dW, H * V, opts.transposed ? 'V*H' : 'H*V');
    expectLength('db', opts.db, V, 'V');
    this.backend = resolveBackend(opts.backend);
    this.params = [W, b];
    this.grads = [opts.dW, opts.db];
    this.transposed = opts.transposed ?? false;
    // Words never seen in training still get a little mass (as if counted once), so every word can be a target.
    this.sampler = new AliasTable(Array.from(counts, (c) => Math.max(c, 1) ** power));
    this.logQ = Float64Array.from(this.sampler.q, (q) => Math.log(samples * q));
    this.noise = new Int32Array(samples);
    this.ws = new Float32Array(H * samples);
    this.dws = new Float32Array(H * samples);
    this.dbs = new Float32Array(samples);
    this.bias = new Float32Array(samples);
    this.hitFirst = new Int32Array(V).fill(-1);
    this.hitNext = new Int32Array(samples);
  }

  /** Draws the iteration's noise words into `noise`. */
  draw(key: SampleKey): Int32Array {
    const base = dropoutBase(key.seed >>> 0, key.iteration >>> 0, SAMPLER_SITE, 0, 0);
    for (let j = 0; j < this.samples; j++) this.noise[j] = this.sampler.draw(dropoutBits(base, 2 * j), dropoutBits(base, 2 * j + 1));
    return this.noise;
  }

  /** h [N,T,H], ts [N,T] -> the mean sampled-softmax loss over positions whose target is not -1. */
  forward(h: Float32Array, ts: Int32Array, N: number, T: number, key: SampleKey): number {
    const { H, V, samples: k } = this;
    const R = N * T, K1 = k + 1;
    expectLength('h', h, R * H, 'N*T*H');
    expectLength('ts', ts, R, 'N*T');
    this.h = h;
    this.R = R;
    if (this.ts.length !== R) {
      this.ts = new Int32Array(R);
      this.tz = new Int32Array(R);
      this.tsafe = new Int32Array(R);
    }
    let count = 0;
    for (let r = 0; r < R; r++) {
      const t = ts[r];
      if (t !== IGNORE_LABEL && !(Number.isInteger(t) && t >= 0 && t < V)) throw new RangeError(`Expected ts[${r}] in [0, ${V}) or -1 but received ${t}`);
      this.ts[r] = t;
      this.tz[r] = t === IGNORE_LABEL ? IGNORE_LABEL : 0;
      this.tsafe[r] = t === IGNORE_LABEL ? 0 : t;
      if (t !== IGNORE_LABEL) count++;
    }
    this.count = count;
    const [W, b] = this.params;
    const noise = this.draw(key);
    // The noise words' weights, ws [k,H]; each noise column's bias and correction; which noise columns hold each
    // word (a chain through hitNext), to leave out accidental hits.
    this.backend.gatherWords(this.ws, W, noise, this.transposed, H, V, k);
    const bias = this.bias, hitNext = this.hitNext, hitFirst = this.hitFirst;
    for (let j = 0; j < k; j++) {
      const w = noise[j];
      bias[j] = b[w] - this.logQ[w];
      hitNext[j] = hitFirst[w];
      hitFirst[w] = j;
    }
    this.z = ensureF32(this.z, R * K1);
    this.p = ensureF32(this.p, R * K1);
    const z = this.z;
    // Noise scores for every position as one product: z[:, 1:] = h ws^T + bias.
    for (let r = 0; r < R; r++) z.set(bias, r * K1 + 1);
    this.backend.sgemm(false, true, R, k, H, 1, h, H, this.ws, H, 1, z.subarray(1), K1);
    // The targets' own scores, from their gathered weights wt [R,H].
    this.wt = ensureF32(this.wt, R * H);
    const wt = this.wt;
    this.backend.gatherWords(wt, W, this.tsafe, this.transposed, H, V, R);
    for (let r = 0; r < R; r++) {
      const t = ts[r], o = r * K1;
      if (t === IGNORE_LABEL) {
        z.fill(0, o, o + K1);
        continue;
      }
      let s = b[t];
      for (let i = r * H, e = i + H; i < e; i++) s += h[i] * wt[i];
      z[o] = s - this.logQ[t];
      for (let j = hitFirst[t]; j >= 0; j = hitNext[j]) z[o + 1 + j] = -Infinity;
    }
    for (let j = 0; j < k; j++) hitFirst[noise[j]] = -1;
    const lossSum = this.backend.softmaxCrossEntropyForward(this.p, z, this.tz, R, K1);
    this.consumed = false;
    return count === 0 ? 0 : lossSum / count;
  }

  /** dout -> dh [N,T,H]; adds to dW and db at the targets' and noise words' entries. Once per forward. */
  backward(dout = 1): Float32Array {
    if (!this.h) throw new Error('TimeSampledSoftmaxWithLoss.backward called before forward');
    if (this.consumed) throw new Error('TimeSampledSoftmaxWithLoss.backward called twice for one forward');
    this.consumed = true;
    const { H, V, samples: k, R } = this;
    const K1 = k + 1, h = this.h;
    const [dW, db] = this.grads;
    const scale = this.count === 0 ? 0 : dout / this.count;
    const dz = this.p;
    this.backend.softmaxCrossEntropyBackward(dz, this.p, this.tz, scale, R, K1);
    // Noise words: dh = dz[:, 1:] ws; dws = dz[:, 1:]^T h, added into their weights; db.
    this.dh = ensureF32(this.dh, R * H);
    const dh = this.dh;
    this.backend.sgemm(false, false, R, H, k, 1, dz.subarray(1), K1, this.ws, H, 0, dh, H);
    this.backend.sgemm(true, false, k, H, R, 1, dz.subarray(1), K1, h, H, 0, this.dws, H);
    this.backend.scatterAddWords(dW, this.dws, this.noise, this.transposed, H, V, k);
    if (this.ones.length < R) this.ones = new Float32Array(R).fill(1);
    this.backend.sgemm(false, false, 1, k, R, 1, this.ones, R, dz.subarray(1), K1, 0, this.dbs, k);
    for (let j = 0; j < k; j++) db[this.noise[j]] += this.dbs[j];
    // Targets: dh += dz[:, 0] wt; dwt = dz[:, 0] h, added into their weights; db[t] += dz[:, 0]. (Rows without a
    // target have dz 0 and add nothing.)
    this.dwt = ensureF32(this.dwt, R * H);
    const wt = this.wt, dwt = this.dwt;
    for (let r = 0; r < R; r++) {
      const g = dz[r * K1];
      for (let i = r * H, e = i + H; i < e; i++) {
        dh[i] += g * wt[i];
        dwt[i] = g * h[i];
      }
      if (this.ts[r] !== IGNORE_LABEL) db[this.ts[r]] += g;
    }
    this.backend.scatterAddWords(dW, dwt, this.tsafe, this.transposed, H, V, R);
    return dh;
  }
}
