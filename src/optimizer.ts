/**
 * The optimizer: SGD, the one place where parameters change. Executors compute a step's loss and its summed
 * gradient and know where it lives (one thread, or parts on worker threads); `SGD.step` hands them the update
 * (`ParamUpdate`, a plain object) and each thread holding a part applies it with `sgdStep`, this module's code.
 */
import { resolveBackend, type Backend, type BackendName } from './backend';
import { DEFAULTS } from './defaults';
import type { SupportSpan } from './gradient';

/** One optimizer step's arithmetic, as a plain object that any thread can apply over its part (sgdStep). */
export interface ParamUpdate {
  /** The step size: the learning rate times the clipping factor. */
  lr: number;
}

/**
 * Where a step's summed gradient lives (an executor): it applies an update over every part of the gradient's
 * support, on the threads that hold them, through sgdStep, and leaves the gradient zero.
 */
export interface GradientHolder {
  applyUpdate(update: ParamUpdate, where: string): Promise<void>;
}

/** Stochastic gradient descent: param -= lr * grad. */
export class SGD {
  lr: number;
  private readonly backend: Backend;

  constructor(lr: number = DEFAULTS.lr, opts: { backend?: Backend | BackendName } = {}) {
    if (!(lr > 0) || !Number.isFinite(lr)) throw new RangeError(`Expected positive learning rate but received ${lr}`);
    this.lr = lr;
    this.backend = resolveBackend(opts.backend);
  }

  /**
   * param -= lr * scale * grad for every pair (the book's SGD.update); `scale` folds a clipping factor (clipScale)
   * into the update's one pass.
   */
  update(params: Float32Array[], grads: Float32Array[], scale = 1): void {
    if (params.length !== grads.length) {
      throw new RangeError(`Expected as many gradients as parameters (${params.length}) but received ${grads.length}`);
    }
    for (let i = 0; i < params.length; i++) {
      sgdStep(this.backend, params[i], grads[i], this.lr * scale, false, { from: 0, to: params[i].length, rows: NO_ROWS, V: 0, D: 0 });
    }
  }

  /**
   * PyTorch's optimizer.step(): the update of the parameters whose gradient `holder` (an executor) holds, scaled by
   * `scale` (a clipping factor), leaving the gradient zero.
   */
  step(holder: GradientHolder, scale = 1, where = ''): Promise<void> {
    return holder.applyUpdate({ lr: this.lr * scale }, where);
  }
}

const NO_ROWS = new Int32Array(0);

/**
 * The SGD step itself, p -= lr * g over a span of flat arrays (its dense floats and its sparse rows), then g = 0
 * there when zeroGrad. Every update runs through it: SGD.update, the serial executor's spans and each worker's part.
 */
export function sgdStep(backend: Backend, p: Float32Array, g: Float32Array, lr: number, zeroGrad: boolean, s: SupportSpan): void {
  backend.sgdUpdate(p.subarray(s.from, s.to), g.subarray(s.from, s.to), lr, zeroGrad);
  const base = s.base ?? 0;
  if (s.rows.length > 0) backend.sgdUpdateRows(p.subarray(base), g.subarray(base), lr, s.rows, s.rows.length, s.V, s.D, zeroGrad);
}

/** The factor global-norm clipping scales gradients of this norm by: maxNorm / (norm + 1e-6) when below 1, else 1. */
export function clipScale(norm: number, maxNorm: number): number {
  const rate = maxNorm / (norm + 1e-6);
  return rate < 1 ? rate : 1;
}

/**
 * Global-norm gradient clipping, as the book's clip_grads: when the L2 norm of all gradients together exceeds
 * maxNorm, every gradient is scaled by maxNorm / (norm + 1e-6). Returns the norm before clipping.
 */
export function clipGrads(grads: Float32Array[], maxNorm: number, backend?: Backend | BackendName): number {
  const b = resolveBackend(backend);
  let sum = 0;
  for (const g of grads) sum += b.sumSquares(g);
  const norm = Math.sqrt(sum);
  const rate = clipScale(norm, maxNorm);
  if (rate < 1) for (const g of grads) b.scale(g, rate);
  return norm;
}
