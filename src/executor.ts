/**
 * How a training step runs: an executor computes a batch's loss and gradient, the gradient's sum of squares (for
 * clipping) and the SGD update, on the calling thread (SerialExecutor) or split over worker threads
 * (parallel/engine.ts: ParallelEngine). The trainer drives either through this interface alone, so that another
 * executor (processes, machines) can join without the trainer knowing.
 */
import { GradientSupport } from './gradient';
import type { LanguageModel } from './model';

export interface StepExecutor {
  /** Worker threads the executor splits each batch over (1: the calling thread). */
  readonly workers: number;
  /**
   * The batch's loss (mean over positions with a target) for xs, ts [N, T]; its gradient is left in the model's
   * flatGrads. `iteration` keys the dropout masks; `where` ends an error's message (" at epoch 2, iteration 5").
   */
  step(xs: Int32Array, ts: Int32Array, iteration: number, where: string): Promise<number>;
  /** The sum of squares of the last step's gradient (the global norm's square, for clipping). */
  gradSumSquares(): number;
  /** params -= lr * grad wherever the last step's gradient can be non-zero, leaving the gradient zero. */
  update(lr: number, where: string): Promise<void>;
  /** Frees what the executor holds (threads); the model's state is current. */
  close(): Promise<void>;
}

/**
 * Steps on the calling thread. The passes over the gradient (norm, update, zeroing) visit only where the backward
 * wrote (GradientSupport): the batch's embedding rows and the dense rest.
 */
export class SerialExecutor implements StepExecutor {
  readonly workers = 1;
  private readonly support: GradientSupport;
  /** Whether the gradient is zero (the last update left it so): the next step skips the zeroing. */
  private gradsZero = false;

  constructor(private readonly model: LanguageModel, readonly N: number, readonly T: number) {
    this.support = new GradientSupport(model);
  }

  async step(xs: Int32Array, ts: Int32Array, iteration: number): Promise<number> {
    const m = this.model;
    if (!this.gradsZero) m.zeroGrads();
    this.gradsZero = false;
    const loss = m.step(xs, ts, this.N, this.T, { iteration });
    this.support.setIds(xs, ts);
    return loss;
  }

  gradSumSquares(): number {
    return this.support.sumSquares(this.model.backend, this.model.flatGrads);
  }

  async update(lr: number): Promise<void> {
    this.support.sgdUpdate(this.model.backend, this.model.flatParams, this.model.flatGrads, lr, true);
    this.gradsZero = true;
  }

  async close(): Promise<void> {}
}
