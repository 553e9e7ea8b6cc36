import { resolveBackend, SCRATCH, type Backend } from '../backend';
import { ensureF32, expectLength } from './buffers';
import type { LayerOptions } from './embedding';

/** The weights of a recurrent layer with G gates: Wx [D,G*H], Wh [H,G*H], b [G*H] (G = 1, 3 or 4). */
export interface RecurrentWeights {
  Wx: Float32Array;
  Wh: Float32Array;
  b: Float32Array;
}

export interface RecurrentOptions extends LayerOptions {
  /** Carry the last state of one forward into the next (truncated BPTT). */
  stateful?: boolean;
  /** Where the gradients go (default: new arrays). */
  grads?: RecurrentWeights;
}

/**
 * What TimeRNN, TimeLSTM and TimeGRU share: the weights and their gradients, the carried state (one [N,H] tensor
 * per name in `stateNames`: `h`, and `c` for the LSTM), and the bookkeeping of stateful truncated BPTT. A subclass
 * passes its gate count to the constructor and says which backend ops run its forward and backward.
 * params = [Wx, Wh, b], grads = [dWx, dWh, db]; backward accumulates into the gradients.
 */
export abstract class TimeRecurrent {
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  readonly D: number;
  readonly H: number;
  stateful: boolean;
  /** The gradient at each initial state tensor ([N,H] each, in stateNames order), written by backward. */
  dstate: Float32Array[] = [];
  protected readonly backend: Backend;
  protected N = 0;
  protected T = 0;
  protected xs?: Float32Array;
  /** The initial state of the last forward, one [N,H] tensor per state name. */
  protected init: Float32Array[] = [];
  protected hs?: Float32Array;
  protected dxs?: Float32Array;
  protected work?: Float32Array;
  private carried: Float32Array[] | null = null;

  /** The state tensors this cell carries: ['h'], or ['h', 'c'] for the LSTM. */
  abstract readonly stateNames: readonly string[];

  constructor(w: RecurrentWeights, D: number, H: number, gates: number, opts: RecurrentOptions = {}) {
    const G = gates * H;
    const shape = gates === 1 ? 'H' : `${gates}H`;
    const check = (x: RecurrentWeights, p: string): void => {
      expectLength(`${p}Wx`, x.Wx, D * G, `D*${shape}`);
      expectLength(`${p}Wh`, x.Wh, H * G, `H*${shape}`);
      expectLength(`${p}b`, x.b, G, shape);
    };
    check(w, '');
    this.D = D;
    this.H = H;
    this.stateful = opts.stateful ?? false;
    this.backend = resolveBackend(opts.backend);
    const g = opts.grads ?? { Wx: new Float32Array(D * G), Wh: new Float32Array(H * G), b: new Float32Array(G) };
    check(g, 'd');
    this.params = [w.Wx, w.Wh, w.b];
    this.grads = [g.Wx, g.Wh, g.b];
  }

  /** The carried hidden state [N,H], or null before the first forward / after resetState. */
  get h(): Float32Array | null {
    return this.carried?.[0] ?? null;
  }

  /** The gradient at the initial hidden state [N,H], written by backward. */
  get dh(): Float32Array | null {
    return this.dstate[0] ?? null;
  }

  /** The carried state, one [N,H] tensor per state name (views, not copies), or null when there is none. */
  getState(): Float32Array[] | null {
    return this.carried;
  }

  /** Sets the state the next forward starts from (copied): the book's setState(h) / setState(h, c). */
  setState(...state: Float32Array[]): void {
    const { H } = this;
    const names = this.stateNames;
    if (state.length !== names.length && !(state.length === 1 && names.length === 2)) {
      throw new RangeError(`Expected ${names.length} state tensors (${names.join(', ')}) but received ${state.length}`);
    }
    const n = state[0].length;
    if (n === 0 || n % H !== 0) throw new RangeError(`Expected hidden state of length N*H (H=${H}) but received ${n}`);
    if (this.carried === null || this.carried[0].length !== n) this.carried = names.map(() => new Float32Array(n));
    names.forEach((name, k) => {
      // The book's TimeLSTM.set_state(h, c=None): a missing c starts at zero.
      const s = state[k];
      if (s === undefined) this.carried![k].fill(0);
      else {
        expectLength(name, s, n, 'N*H');
        this.carried![k].set(s);
      }
    });
  }

  resetState(): void {
    this.carried = null;
  }

  /** xs [N,T,D] -> hs [N,T,H]. xs is kept (not copied) for backward: do not change it in between. */
  forward(xs: Float32Array, N: number, T: number): Float32Array {
    const { D, H } = this;
    expectLength('xs', xs, N * T * D, 'N*T*D');
    this.N = N;
    this.T = T;
    this.xs = xs;
    const S = this.stateNames.length;
    if (this.init.length !== S || this.init[0].length !== N * H) this.init = this.stateNames.map(() => new Float32Array(N * H));
    if (this.stateful && this.carried !== null) {
      if (this.carried[0].length !== N * H) {
        throw new RangeError(
          `Hidden state holds ${this.carried[0].length / H} rows but the batch has N=${N}; call resetState() to change the batch size`,
        );
      }
      this.carried.forEach((s, k) => this.init[k].set(s));
    } else {
      for (const s of this.init) s.fill(0);
    }
    this.hs = ensureF32(this.hs, N * T * H);
    const last = this.run(N, T);
    if (this.stateful) {
      if (this.carried === null || this.carried[0].length !== N * H) this.carried = this.stateNames.map(() => new Float32Array(N * H));
      last.forEach((seq, k) => {
        for (let n = 0; n < N; n++) this.carried![k].set(seq.subarray((n * T + T - 1) * H, (n * T + T) * H), n * H);
      });
    }
    return this.hs;
  }

  /** dhs [N,T,H] -> dxs [N,T,D]; adds to dWx, dWh, db and writes dstate. */
  backward(dhs: Float32Array): Float32Array {
    if (!this.xs || !this.hs) throw new Error(`${this.constructor.name}.backward called before forward`);
    const { N, T, D, H } = this;
    expectLength('dhs', dhs, N * T * H, 'N*T*H');
    this.dxs = ensureF32(this.dxs, N * T * D);
    if (this.dstate.length !== this.stateNames.length || this.dstate[0].length !== N * H) {
      this.dstate = this.stateNames.map(() => new Float32Array(N * H));
    }
    this.runBackward(dhs, N, T);
    return this.dxs;
  }

  /** Runs the forward op into this.hs from this.init; returns the [N,T,H] sequences whose last steps are the state. */
  protected abstract run(N: number, T: number): Float32Array[];

  /** Runs the backward op into this.dxs, this.grads and this.dstate. */
  protected abstract runBackward(dhs: Float32Array, N: number, T: number): void;
}

/**
 * TimeRNN: xs [N,T,D] -> hs [N,T,H] with h_t = tanh(h_{t-1} Wh + x_t Wx + b). Wx [D,H], Wh [H,H], b [H].
 */
export class TimeRNN extends TimeRecurrent {
  readonly stateNames = ['h'] as const;

  constructor(w: RecurrentWeights, D: number, H: number, opts: RecurrentOptions = {}) {
    super(w, D, H, 1, opts);
  }

  protected run(N: number, T: number): Float32Array[] {
    const [Wx, Wh, b] = this.params;
    this.backend.rnnForward(this.hs!, this.xs!, this.init[0], Wx, Wh, b, N, T, this.D, this.H);
    return [this.hs!];
  }

  protected runBackward(dhs: Float32Array, N: number, T: number): void {
    const { D, H } = this;
    this.work = ensureF32(this.work, SCRATCH.rnnBackward(N, T, H));
    const [dWx, dWh, db] = this.grads;
    const [Wx, Wh] = this.params;
    this.backend.rnnBackward(this.dxs!, dWx, dWh, db, this.dstate[0], dhs, this.xs!, this.hs!, this.init[0], Wx, Wh, this.work, N, T, D, H);
  }
}

/**
 * TimeLSTM (the book's math and gate order f, g, i, o): A = x_t Wx + h_{t-1} Wh + b,
 * c_t = sig(f) c_{t-1} + tanh(g) sig(i), h_t = sig(o) tanh(c_t). Wx [D,4H], Wh [H,4H], b [4H]; state h and c.
 */
export class TimeLSTM extends TimeRecurrent {
  readonly stateNames = ['h', 'c'] as const;
  private cs?: Float32Array;
  private gateActs?: Float32Array;

  constructor(w: RecurrentWeights, D: number, H: number, opts: RecurrentOptions = {}) {
    super(w, D, H, 4, opts);
  }

  /** The carried cell state [N,H], or null. */
  get c(): Float32Array | null {
    return this.getState()?.[1] ?? null;
  }

  protected run(N: number, T: number): Float32Array[] {
    const { D, H } = this;
    this.cs = ensureF32(this.cs, N * T * H);
    this.gateActs = ensureF32(this.gateActs, N * T * 4 * H);
    const [Wx, Wh, b] = this.params;
    this.backend.lstmForward(this.hs!, this.cs, this.gateActs, this.xs!, this.init[0], this.init[1], Wx, Wh, b, N, T, D, H);
    return [this.hs!, this.cs];
  }

  protected runBackward(dhs: Float32Array, N: number, T: number): void {
    const { D, H } = this;
    this.work = ensureF32(this.work, SCRATCH.lstmBackward(N, T, H));
    const [dWx, dWh, db] = this.grads;
    const [Wx, Wh] = this.params;
    this.backend.lstmBackward(this.dxs!, dWx, dWh, db, this.dstate[0], this.dstate[1], dhs, this.xs!, this.hs!, this.cs!,
      this.gateActs!, this.init[0], this.init[1], Wx, Wh, this.work, N, T, D, H);
  }
}

/**
 * TimeGRU (gates z, r, n): z = sig(x Wx_z + h Wh_z + b_z), r = sig(x Wx_r + h Wh_r + b_r),
 * n = tanh(x Wx_n + (r h) Wh_n + b_n), h_t = (1 - z) h_{t-1} + z n. Wx [D,3H], Wh [H,3H], b [3H].
 */
export class TimeGRU extends TimeRecurrent {
  readonly stateNames = ['h'] as const;
  private gateActs?: Float32Array;
  private rh?: Float32Array;

  constructor(w: RecurrentWeights, D: number, H: number, opts: RecurrentOptions = {}) {
    super(w, D, H, 3, opts);
  }

  protected run(N: number, T: number): Float32Array[] {
    const { D, H } = this;
    this.gateActs = ensureF32(this.gateActs, N * T * 3 * H);
    this.rh = ensureF32(this.rh, N * T * H);
    const [Wx, Wh, b] = this.params;
    this.backend.gruForward(this.hs!, this.gateActs, this.rh, this.xs!, this.init[0], Wx, Wh, b, N, T, D, H);
    return [this.hs!];
  }

  protected runBackward(dhs: Float32Array, N: number, T: number): void {
    const { D, H } = this;
    this.work = ensureF32(this.work, SCRATCH.gruBackward(N, T, H));
    const [dWx, dWh, db] = this.grads;
    const [Wx, Wh] = this.params;
    this.backend.gruBackward(this.dxs!, dWx, dWh, db, this.dstate[0], dhs, this.xs!, this.hs!, this.gateActs!, this.rh!,
      this.init[0], Wx, Wh, this.work, N, T, D, H);
  }
}

/**
 * RNN: one time step, h_next = tanh(h_prev Wh + x Wx + b), for x [N,D] and h_prev [N,H].
 * params = [Wx, Wh, b], grads = [dWx, dWh, db] (accumulated).
 */
export class RNN {
  private readonly time: TimeRNN;

  constructor(w: RecurrentWeights, D: number, H: number, opts: RecurrentOptions = {}) {
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

  /** dhNext [N,H] -> { dx [N,D], dhPrev [N,H] }; adds to dWx, dWh, db. */
  backward(dhNext: Float32Array): { dx: Float32Array; dhPrev: Float32Array } {
    const dx = this.time.backward(dhNext);
    return { dx, dhPrev: this.time.dh as Float32Array };
  }
}
