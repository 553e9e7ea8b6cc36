import { resolveBackend, type Backend } from '../backend';
import { ensureF32, expectLength } from './buffers';
import type { LayerOptions } from './embedding';

/** The target id that TimeSoftmaxWithLoss skips, as in the book. */
export const IGNORE_LABEL = -1;

/**
 * TimeSoftmaxWithLoss: scores [N,T,V] and targets [N,T] -> the mean cross-entropy over the N*T positions
 * whose target is not -1. No parameters.
 */
export class TimeSoftmaxWithLoss {
  readonly params: Float32Array[] = [];
  readonly grads: Float32Array[] = [];
  private readonly backend: Backend;
  /** The probabilities (or, after a forward given a dout, the gradient in the scores' own buffer). */
  private ys?: Float32Array;
  /** The layer's own buffer for the probabilities. */
  private own?: Float32Array;
  /** backward turns ys into dx in place (saving a pass over N*T*V); a second backward needs a new forward. */
  private consumed = false;
  /** The dout a forward was told of: ys then already hold dx for it (saving another pass). */
  private planned?: number;
  private ts = new Int32Array(0);
  private V = 0;
  private count = 0;

  constructor(opts: LayerOptions = {}) {
    this.backend = resolveBackend(opts.backend);
  }

  /**
   * Softmax probabilities of the last forward, [N,T,V]; undefined once backward has reused their buffer, or when
   * the forward was told the backward's dout (its buffer then holds the gradient).
   */
  get probs(): Float32Array | undefined {
    return this.consumed || this.planned !== undefined ? undefined : this.ys;
  }

  /**
   * xs [N,T,V] and ts [N,T] -> the mean loss. Given the dout of the backward that will follow (a training step),
   * the gradient is made in the forward's own passes over the scores and written over them: xs is then
   * overwritten (no second [N,T,V] buffer to write and keep in cache), and backward hands it over.
   */
  forward(xs: Float32Array, ts: Int32Array, N: number, T: number, V: number, dout?: number): number {
    const R = N * T;
    expectLength('xs', xs, R * V, 'N*T*V');
    expectLength('ts', ts, R, 'N*T');
    if (this.ts.length !== R) this.ts = new Int32Array(R);
    this.ts.set(ts);
    this.V = V;
    if (dout === undefined) this.ys = this.own = ensureF32(this.own, R * V);
    else this.ys = xs;
    this.consumed = false;
    let count = 0;
    for (let r = 0; r < R; r++) if (ts[r] !== IGNORE_LABEL) count++;
    this.count = count;
    this.planned = dout;
    const lossSum = this.backend.softmaxCrossEntropyForward(this.ys, xs, this.ts, R, V, dout === undefined ? undefined : this.scale(dout));
    return count === 0 ? 0 : lossSum / count;
  }

  /**
   * dout (the gradient of the loss, 1 by default) -> dxs [N,T,V]. dxs is written over the probabilities' buffer
   * (after a forward given a dout, it is the scores' buffer), so backward runs once per forward. After a forward
   * given a dout, dout must be that one.
   */
  backward(dout = 1): Float32Array {
    if (!this.ys) throw new Error('TimeSoftmaxWithLoss.backward called before forward');
    if (this.consumed) throw new Error('TimeSoftmaxWithLoss.backward called twice for one forward');
    if (this.planned !== undefined && dout !== this.planned) {
      throw new Error(`TimeSoftmaxWithLoss.backward(${dout}) after a forward that made the gradient for dout ${this.planned}`);
    }
    if (this.planned === undefined) {
      this.backend.softmaxCrossEntropyBackward(this.ys, this.ys, this.ts, this.scale(dout), this.ts.length, this.V);
    }
    this.consumed = true;
    return this.ys;
  }

  /** The gradient's scale for a dout: the loss is the mean over the positions whose target is not -1. */
  private scale(dout: number): number {
    return this.count === 0 ? 0 : dout / this.count;
  }
}
