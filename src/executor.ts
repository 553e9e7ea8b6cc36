/**
 * How a training step runs: an executor computes a batch's loss and its summed gradient and the gradient's sum of
 * squares (for clipping), on the calling thread (SerialExecutor), split over worker threads (parallel/engine.ts:
 * ParallelEngine) or over processes (distributed.ts: MpiExecutor); the optimizer's update then runs where the
 * gradient lives (GradientHolder). The trainer drives any of them through this interface alone.
 */
import { GradientSupport } from './gradient';
import type { LanguageModel } from './model';
import { sgdStep, type GradientHolder, type ParamUpdate } from './optimizer';

/**
 * The whole batch of which a step's xs, ts are a part (other processes hold the rest): its count of targets, which
 * the loss and gradient are averaged over, and all its input ids [N, T], whose rows the gradient can touch.
 */
export interface WholeBatch {
  count: number;
  ids: Int32Array;
}

/** What a step exchanges between processes (distributed.ts), summed over the steps so far. */
export interface Traffic {
  steps: number;
  /** Bytes this process sent. */
  bytes: number;
  ms: number;
}

export interface StepExecutor extends GradientHolder {
  /** Worker threads the executor splits each batch over (1: the calling thread). */
  readonly workers: number;
  /** The rows of the whole batch this executor steps: its row 0 stands for batch row rows[0]. */
  readonly rows: [number, number];
  /** Bytes and time of the exchanges with other processes, for an executor that has them. */
  readonly traffic?: Traffic;
  /**
   * Before a step on xs, ts: whether training stops here. A request to stop (`stop`, e.g. Ctrl-C) stops every
   * process of a run at the same batch.
   */
  prepare(xs: Int32Array, ts: Int32Array, stop: boolean): Promise<boolean>;
  /**
   * The batch's loss (mean over positions with a target) for xs, ts [N, T], and its gradient, summed over whatever
   * ran the step, left in the model's flatGrads. `iteration` keys the dropout masks; `where` ends an error's message
   * (" at epoch 2, iteration 5"). With `whole`, xs, ts are part of a larger batch: the loss and gradient are those
   * of the part's positions over whole.count (the parts sum to the batch's), and the passes below cover the rows
   * of whole.ids.
   */
  forwardBackward(xs: Int32Array, ts: Int32Array, iteration: number, where: string, whole?: WholeBatch): Promise<number>;
  /** The sum of squares of the last step's gradient (the global norm's square, for clipping). */
  gradSumSquares(): number;
  /** Makes the model hold the recurrent state of the whole batch (before a checkpoint, or at the end). */
  syncModel(): Promise<void>;
  /** Frees what the executor holds (threads). */
  close(): Promise<void>;
}

/**
 * Part k's rows [row0, row1) of an N-row batch cut into `parts` (worker threads, or processes): the first N % parts
 * parts take one row more.
 */
export function batchRows(N: number, k: number, parts: number): [number, number] {
  const base = Math.floor(N / parts), extra = N % parts;
  const row0 = k * base + Math.min(k, extra);
  return [row0, row0 + base + (k < extra ? 1 : 0)];
}

/** The number of positions with a target (not -1) in ts. */
export function countTargets(ts: Int32Array): number {
  let count = 0;
  for (let i = 0; i < ts.length; i++) if (ts[i] !== -1) count++;
  return count;
}

/**
 * Steps on the calling thread. The passes over the gradient (norm, update, zeroing) visit only where the backward
 * wrote (GradientSupport): the batch's embedding rows and the dense rest.
 */
export class SerialExecutor implements StepExecutor {
  readonly workers = 1;
  readonly rows: [number, number];
  private readonly support: GradientSupport;
  /** Whether the gradient is zero (the last update left it so): the next step skips the zeroing. */
  private gradsZero = false;

  /** `rowOffset`: the batch row that row 0 of xs stands for (a process's part of a larger batch), for dropout. */
  constructor(private readonly model: LanguageModel, readonly N: number, readonly T: number, private readonly rowOffset = 0) {
    this.rows = [rowOffset, rowOffset + N];
    this.support = new GradientSupport(model);
  }

  async prepare(_xs: Int32Array, _ts: Int32Array, stop: boolean): Promise<boolean> {
    return stop;
  }

  async forwardBackward(xs: Int32Array, ts: Int32Array, iteration: number, _where = '', whole?: WholeBatch): Promise<number> {
    const m = this.model;
    if (!this.gradsZero) m.zeroGrads();
    this.gradsZero = false;
    const share = whole === undefined ? 1 : whole.count === 0 ? 0 : countTargets(ts) / whole.count;
    const loss = m.forwardBackward(xs, ts, this.N, this.T, { iteration, row0: this.rowOffset }, share);
    if (whole === undefined) this.support.setIds(xs, ts);
    else this.support.setIds(whole.ids);
    return loss * share;
  }

  gradSumSquares(): number {
    return this.support.sumSquares(this.model.backend, this.model.flatGrads);
  }

  /** The optimizer's update over the gradient's support, zeroing the gradient there (everywhere else it already is). */
  async applyUpdate(update: ParamUpdate): Promise<void> {
    const m = this.model;
    for (const s of this.support.spans()) sgdStep(m.backend, m.flatParams, m.flatGrads, update.lr, true, s);
    this.gradsZero = true;
  }

  async syncModel(): Promise<void> {}

  async close(): Promise<void> {}
}
