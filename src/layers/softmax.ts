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
  private ys?: Float32Array;
  /** backward turns ys into dx in place (saving a pass over N*T*V); a second backward needs a new forward. */
  private consumed = false;
  private ts = new Int32Array(0);
  private V = 0;
  private count = 0;

  constructor(opts: LayerOptions = {}) {
    this.backend = resolveBackend(opts.backend);
  }

  /** Softmax probabilities of the last forward, [N,T,V]; undefined once backward has reused their buffer. */
  get probs(): Float32Array | undefined {
    return this.consumed ? undefined : this.ys;
  }

  forward(xs: Float32Array, ts: Int32Array, N: number, T: number, V: number): number {
    const R = N * T;
    expectLength('xs', xs, R * V, 'N*T*V');
    expectLength('ts', ts, R, 'N*T');
    if (this.ts.length !== R) this.ts = new Int32Array(R);
    this.ts.set(ts);
    this.V = V;
    this.ys = ensureF32(this.ys, R * V);
    this.consumed = false;
    const lossSum = this.backend.softmaxCrossEntropyForward(this.ys, xs, this.ts, R, V);
    let count = 0;
    for (let r = 0; r < R; r++) if (ts[r] !== IGNORE_LABEL) count++;
    this.count = count;
    return count === 0 ? 0 : lossSum / count;
  }

  /**
   * dout (the gradient of the loss, 1 by default) -> dxs [N,T,V]. dxs is written over the probabilities' buffer,
   * so backward runs once per forward.
   */
  backward(dout = 1): Float32Array {
    if (!this.ys) throw new Error('TimeSoftmaxWithLoss.backward called before forward');
    if (this.consumed) throw new Error('TimeSoftmaxWithLoss.backward called twice for one forward');
    const R = this.ts.length;
    const scale = this.count === 0 ? 0 : dout / this.count;
    this.backend.softmaxCrossEntropyBackward(this.ys, this.ys, this.ts, scale, R, this.V);
    this.consumed = true;
    return this.ys;
  }
}
