import { resolveBackend, type Backend } from '../backend';
import { ensureF32, expectLength } from './buffers';
import type { LayerOptions } from './embedding';

/**
 * TimeAffine: x [N,T,I] -> x W + b [N,T,O], the same W [I,O] and b [O] at every time step.
 * With `transposed`, W is stored as its transpose [O,I] (tied weights: the embedding matrix, as the book's
 * `TimeAffine(embed_W.T, affine_b)`), and out = x W^T + b.
 * params = [W, b], grads = [dW, db]; backward accumulates into the gradients (zero them before a new batch).
 */
export class TimeAffine {
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  readonly I: number;
  readonly O: number;
  readonly transposed: boolean;
  private readonly backend: Backend;
  private x?: Float32Array;
  private out?: Float32Array;
  private dx?: Float32Array;
  private work?: Float32Array;
  private R = 0;

  constructor(W: Float32Array, b: Float32Array, I: number, O: number,
    opts: LayerOptions & { dW?: Float32Array; db?: Float32Array; transposed?: boolean } = {}) {
    this.transposed = opts.transposed ?? false;
    const wShape = this.transposed ? 'O*I' : 'I*O';
    expectLength('W', W, I * O, wShape);
    expectLength('b', b, O, 'O');
    this.I = I;
    this.O = O;
    this.backend = resolveBackend(opts.backend);
    const dW = opts.dW ?? new Float32Array(I * O);
    const db = opts.db ?? new Float32Array(O);
    expectLength('dW', dW, I * O, wShape);
    expectLength('db', db, O, 'O');
    this.params = [W, b];
    this.grads = [dW, db];
  }

  /** x [N,T,I] -> out [N,T,O]. x is kept (not copied) for backward: do not change it in between. */
  forward(x: Float32Array, N: number, T: number): Float32Array {
    this.R = N * T;
    expectLength('x', x, this.R * this.I, 'N*T*I');
    this.x = x;
    this.out = ensureF32(this.out, this.R * this.O);
    this.backend.affineForward(this.out, x, this.params[0], this.params[1], this.transposed, this.R, this.I, this.O);
    return this.out;
  }

  /** dout [N,T,O] -> dx [N,T,I]; adds to dW and db. */
  backward(dout: Float32Array): Float32Array {
    if (!this.x) throw new Error('TimeAffine.backward called before forward');
    expectLength('dout', dout, this.R * this.O, 'N*T*O');
    this.dx = ensureF32(this.dx, this.R * this.I);
    this.work = ensureF32(this.work, this.R * this.I);
    this.backend.affineBackward(this.dx, this.grads[0], this.grads[1], dout, this.x, this.params[0], this.work,
      this.transposed, this.R, this.I, this.O);
    return this.dx;
  }
}
