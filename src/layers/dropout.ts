import { resolveBackend, type Backend } from '../backend';
import { ensureF32, expectLength } from './buffers';
import type { LayerOptions } from './embedding';

/** Where a dropout mask comes from: with the layer's site, this fixes every bit of it. */
export interface DropoutKey {
  /** The run's seed. */
  seed: number;
  /** The training iteration, counted over the whole run (so a resumed run draws the same masks). */
  iteration: number;
  /** The batch row of this call's first row (a worker's slice starts at its first row). */
  row0: number;
}

/**
 * TimeDropout (inverted dropout, as the book's): in training, every unit is zeroed with probability `ratio` and the
 * rest are scaled by 1 / (1 - ratio); in evaluation (`train = false`) it passes x through. The mask is a pure
 * function of (seed, iteration, site, batch row, time step, unit), so serial, parallel and resumed runs agree.
 * No parameters.
 */
export class TimeDropout {
  readonly params: Float32Array[] = [];
  readonly grads: Float32Array[] = [];
  /** The book's train_flg. */
  train = true;
  private readonly backend: Backend;
  private mask?: Float32Array;
  private out?: Float32Array;
  private dx?: Float32Array;
  private active = false;
  private R = 0;

  /** ratio in [0, 1); `site` tells this layer's masks apart from the model's other dropout layers. */
  constructor(readonly ratio: number, readonly site: number, opts: LayerOptions = {}) {
    if (!(ratio >= 0 && ratio < 1)) throw new RangeError(`Expected dropout ratio in [0, 1) but received ${ratio}`);
    this.backend = resolveBackend(opts.backend);
  }

  /** xs [N,T,U] -> [N,T,U]: a masked copy in training, xs itself otherwise. */
  forward(xs: Float32Array, N: number, T: number, U: number, key: DropoutKey): Float32Array {
    expectLength('xs', xs, N * T * U, 'N*T*U');
    this.R = N * T * U;
    this.active = this.train && this.ratio > 0;
    if (!this.active) return xs;
    this.mask = ensureF32(this.mask, this.R);
    this.out = ensureF32(this.out, this.R);
    this.backend.dropoutForward(this.out, this.mask, xs, this.ratio, key.seed >>> 0, key.iteration >>> 0, this.site, key.row0, N, T, U);
    return this.out;
  }

  backward(dout: Float32Array): Float32Array {
    expectLength('dout', dout, this.R, 'N*T*U');
    if (!this.active) return dout;
    this.dx = ensureF32(this.dx, this.R);
    this.backend.dropoutBackward(this.dx, dout, this.mask!, this.R);
    return this.dx;
  }
}
