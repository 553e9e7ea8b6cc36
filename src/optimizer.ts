import { resolveBackend, type Backend, type BackendName } from './backend';
import type { GradientSupport } from './gradient';

/** Stochastic gradient descent: param -= lr * grad. */
export class SGD {
  lr: number;
  private readonly backend: Backend;

  constructor(lr = 0.01, opts: { backend?: Backend | BackendName } = {}) {
    if (!(lr > 0) || !Number.isFinite(lr)) throw new RangeError(`Expected positive learning rate but received ${lr}`);
    this.lr = lr;
    this.backend = resolveBackend(opts.backend);
  }

  /** param -= lr * scale * grad; `scale` folds a clipping factor (clipScale) into the update's one pass. */
  update(params: Float32Array[], grads: Float32Array[], scale = 1): void {
    if (params.length !== grads.length) {
      throw new RangeError(`Expected as many gradients as parameters (${params.length}) but received ${grads.length}`);
    }
    for (let i = 0; i < params.length; i++) this.backend.sgdUpdate(params[i], grads[i], this.lr * scale);
  }

  /**
   * The same update of a model's flat parameters over the gradient's support (elsewhere the gradient is zero);
   * `zeroGrads` does the next iteration's zeroing of the gradient in the same pass (explicit, as every zeroing).
   */
  updateSupport(param: Float32Array, grad: Float32Array, support: GradientSupport, scale = 1, zeroGrads = false): void {
    support.sgdUpdate(this.backend, param, grad, this.lr * scale, zeroGrads);
  }
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
