import { resolveBackend, type Backend } from '../backend';
import { ensureF32, expectLength } from './buffers';
import type { LayerOptions } from './embedding';

export interface RnnWeights {
  /** [D,H] */
  Wx: Float32Array;
  /** [H,H] */
  Wh: Float32Array;
  /** [H] */
  b: Float32Array;
}

function checkWeights(w: RnnWeights, D: number, H: number, prefix = ''): void {
  expectLength(`${prefix}Wx`, w.Wx, D * H, 'D*H');
  expectLength(`${prefix}Wh`, w.Wh, H * H, 'H*H');
  expectLength(`${prefix}b`, w.b, H, 'H');
}

/**
 * TimeRNN: xs [N,T,D] -> hs [N,T,H] with h_t = tanh(h_{t-1} Wh + x_t Wx + b).
 * With `stateful`, the last hidden state of one forward is the initial state of the next (truncated BPTT:
 * gradients stop at the window's start); `setState` / `resetState` set or clear it.
 * params = [Wx, Wh, b], grads = [dWx, dWh, db]; `dh` is the gradient at the initial state after backward.
 */
export class TimeRNN {
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  readonly D: number;
  readonly H: number;
  stateful: boolean;
  /** The carried hidden state [N,H], or null before the first forward / after resetState. */
  h: Float32Array | null = null;
  /** The gradient at the initial hidden state [N,H], written by backward. */
  dh: Float32Array | null = null;
  private readonly backend: Backend;
  private N = 0;
  private T = 0;
  private xs?: Float32Array;
  private h0?: Float32Array;
  private hs?: Float32Array;
  private dxs?: Float32Array;
  private work?: Float32Array;

  constructor(w: RnnWeights, D: number, H: number,
    opts: LayerOptions & { stateful?: boolean; grads?: RnnWeights } = {}) {
    checkWeights(w, D, H);
    this.D = D;
    this.H = H;
    this.stateful = opts.stateful ?? false;
    this.backend = resolveBackend(opts.backend);
    const g = opts.grads ?? { Wx: new Float32Array(D * H), Wh: new Float32Array(H * H), b: new Float32Array(H) };
    checkWeights(g, D, H, 'd');
    this.params = [w.Wx, w.Wh, w.b];
    this.grads = [g.Wx, g.Wh, g.b];
  }

  /** Sets the hidden state [N,H] that the next forward starts from (copied). */
  setState(h: Float32Array): void {
    if (h.length === 0 || h.length % this.H !== 0) {
      throw new RangeError(`Expected hidden state of length N*H (H=${this.H}) but received ${h.length}`);
    }
    if (this.h === null || this.h.length !== h.length) this.h = new Float32Array(h.length);
    this.h.set(h);
  }

  resetState(): void {
    this.h = null;
  }

  /** xs [N,T,D] -> hs [N,T,H]. xs is kept (not copied) for backward: do not change it in between. */
  forward(xs: Float32Array, N: number, T: number): Float32Array {
    const { D, H } = this;
    expectLength('xs', xs, N * T * D, 'N*T*D');
    this.N = N;
    this.T = T;
    this.xs = xs;
    this.h0 = ensureF32(this.h0, N * H);
    if (this.stateful && this.h !== null) {
      if (this.h.length !== N * H) {
        throw new RangeError(
          `Hidden state holds ${this.h.length / H} rows but the batch has N=${N}; call resetState() to change the batch size`,
        );
      }
      this.h0.set(this.h);
    } else {
      this.h0.fill(0);
    }
    this.hs = ensureF32(this.hs, N * T * H);
    const [Wx, Wh, b] = this.params;
    this.backend.rnnForward(this.hs, xs, this.h0, Wx, Wh, b, N, T, D, H);
    if (this.stateful) {
      if (this.h === null || this.h.length !== N * H) this.h = new Float32Array(N * H);
      for (let n = 0; n < N; n++) this.h.set(this.hs.subarray((n * T + T - 1) * H, (n * T + T) * H), n * H);
    }
    return this.hs;
  }

  /** dhs [N,T,H] -> dxs [N,T,D]; writes dWx, dWh, db and dh. */
  backward(dhs: Float32Array): Float32Array {
    if (!this.xs || !this.hs || !this.h0) throw new Error('TimeRNN.backward called before forward');
    const { N, T, D, H } = this;
    expectLength('dhs', dhs, N * T * H, 'N*T*H');
    this.dxs = ensureF32(this.dxs, N * T * D);
    this.dh = ensureF32(this.dh ?? undefined, N * H);
    this.work = ensureF32(this.work, 2 * N * T * H);
    const [dWx, dWh, db] = this.grads;
    const [Wx, Wh] = this.params;
    this.backend.rnnBackward(this.dxs, dWx, dWh, db, this.dh, dhs, this.xs, this.hs, this.h0, Wx, Wh, this.work, N, T, D, H);
    return this.dxs;
  }
}

/**
 * RNN: one time step, h_next = tanh(h_prev Wh + x Wx + b), for x [N,D] and h_prev [N,H].
 * params = [Wx, Wh, b], grads = [dWx, dWh, db].
 */
export class RNN {
  private readonly time: TimeRNN;

  constructor(w: RnnWeights, D: number, H: number, opts: LayerOptions & { grads?: RnnWeights } = {}) {
    this.time = new TimeRNN(w, D, H, { ...opts, stateful: true });
  }

  get params(): Float32Array[] {
    return this.time.params;
  }

  get grads(): Float32Array[] {
    return this.time.grads;
  }

  /** x [N,D], hPrev [N,H] -> hNext [N,H]. */
  forward(x: Float32Array, hPrev: Float32Array, N: number): Float32Array {
    expectLength('hPrev', hPrev, N * this.time.H, 'N*H');
    this.time.setState(hPrev);
    return this.time.forward(x, N, 1);
  }

  /** dhNext [N,H] -> { dx [N,D], dhPrev [N,H] }; writes dWx, dWh, db. */
  backward(dhNext: Float32Array): { dx: Float32Array; dhPrev: Float32Array } {
    const dx = this.time.backward(dhNext);
    return { dx, dhPrev: this.time.dh as Float32Array };
  }
}
