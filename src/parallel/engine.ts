/**
 * Data-parallel training steps on piscina worker threads. Each batch's N rows are cut into fixed slices, one per
 * worker; a slice's forward and backward run on a worker thread against the shared parameters, its gradients land
 * in its own shared block. The workers then sum the blocks in slice order into `model.flatGrads` and, in `update`,
 * apply SGD, each over its own range of the parameters, so that no pass over the parameters runs on one core while
 * the other waits. Every element is the same sum whichever thread ran which slice or range, so the result never
 * depends on thread scheduling, and a failed step leaves the parameters as they were after the last completed step.
 *
 * A model whose output layer splits its work by words (OutputHead.split: the class output) steps in three
 * rounds instead of one: each worker runs its slice up to the output layer and the output's part per row (the class
 * prediction), leaving the layer's input and gradient in shared memory; then each worker runs the in-class part for
 * its range of classes over every row of the batch, writing those classes' output-weight gradients in the model's
 * own gradient, where no other worker writes (the block sum skips them); then each worker runs its slice's backward.
 * Each worker then reads and writes half of the output weights instead of all of them, and 2 M of the gradient's
 * floats (2-layer LSTM 200, PTB) are not summed: about 15% more tokens/s on `--preset rnn-ptb-fast` than one round.
 *
 * Slice 0 and range 0 run on the calling thread. Each other worker is a pool thread running one `serve` task for
 * the engine's lifetime, woken for each round (step, reduce, update) by a doorbell in shared memory: a round costs
 * microseconds to start and to collect, where a pool task per round costs 0.3 to 1.9 ms (the LSTM workloads:
 * piscina's messages, wake-ups and task cloning).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Piscina } from 'piscina';
import type { LanguageModel } from '../model';
import { GradientSupport } from '../gradient';
import { batchRows, countTargets, type StepExecutor, type WholeBatch } from '../executor';
import { checkValue } from '../options';
import { checkRowShare } from '../ranks';
import { runOption } from '../run-options';
import type { ParamUpdate } from '../optimizer';
import { ARGS, COMMAND, CONTROL, argsSize, controlSize, failedIndex, partIndex, type ServeTask, type SharedF32 } from './protocol';
import * as handlers from './worker';

/** The compiled worker file (piscina loads JavaScript). */
export const WORKER_FILE = ((): string => {
  const here = path.join(__dirname, 'worker.js');
  return fs.existsSync(here) ? here : path.resolve(__dirname, '..', '..', 'dist', 'parallel', 'worker.js');
})();

/** Below this many model FLOPs per iteration, OpenBLAS gets one thread: waking more costs more than it saves. */
export const AUTO_MIN_FLOPS = 100e6;

/**
 * Below this many model FLOPs per iteration, `auto` trains on one worker (with autoBlasThreads): the second slice
 * and the split block sum cost more than they save. Measured with the serve loops (ms per iteration, 1 vs 2
 * workers, plain RNN with the class output, H = 100): 17 MFLOP (batch 2) 1.28-1.34 vs 1.32-1.39; 34 MFLOP 1.59-1.61
 * vs 1.52-1.62; 67 MFLOP 2.30-2.33 vs 2.18-2.20; B's shapes (168 MFLOP) 4.6-5.1 vs 3.4-3.6; the seed
 * configuration (13 MFLOP) 0.26 vs 0.31.
 */
export const AUTO_WORKERS_MIN_FLOPS = 50e6;

/**
 * The worker count `auto` picks: serial for models below AUTO_WORKERS_MIN_FLOPS (the seed configuration's 13
 * MFLOP) and for the tree output, else one worker per core, at most one per batch row.
 */
export function autoWorkers(model: LanguageModel, N: number, T: number, cores = os.availableParallelism()): number {
  // The tree output's gradient is row-sparse, which the serial passes use and the workers' block sums do not.
  if (model.flops(N, T) < AUTO_WORKERS_MIN_FLOPS || model.head.sparseRows !== undefined) return 1;
  return Math.max(1, Math.min(cores, N));
}

/**
 * OpenBLAS threads for a run: 1 for small models (below AUTO_MIN_FLOPS, where waking BLAS threads costs more
 * than it saves: the seed configuration runs 0.22 ms per iteration on 1 thread and 0.19-0.33 ms on 2), else the
 * cores divided among the workers.
 */
export function autoBlasThreads(model: LanguageModel, N: number, T: number, workers: number, cores = os.availableParallelism()): number {
  if (model.flops(N, T) < AUTO_MIN_FLOPS) return 1;
  return Math.max(1, Math.floor(cores / workers));
}

/** A worker failed; names the slice (worker) and its rows. */
export class WorkerError extends Error {
  constructor(readonly slice: number, readonly rows: [number, number], where: string, cause: unknown) {
    super(`worker ${slice} (batch rows ${rows[0]}..${rows[1] - 1}) failed${where}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'WorkerError';
  }
}

function shared(a: Float32Array): SharedF32 {
  return { buffer: a.buffer as SharedArrayBuffer, byteOffset: a.byteOffset, length: a.length };
}

/**
 * What the engine needs of a pool: piscina's `run` with named handlers (a Piscina made with WORKER_FILE), and
 * (when it says) its thread count.
 */
export interface WorkerPool {
  run(task: unknown, options: { name: string }): Promise<unknown>;
  readonly options?: { readonly maxThreads?: number };
}

export interface ParallelOptions {
  workers: number;
  /**
   * An existing pool, e.g. `new Piscina({ filename: WORKER_FILE })`, with at least workers - 1 threads: the engine
   * holds that many of them until close(). It is not closed by the engine.
   */
  pool?: WorkerPool;
  /** The batch row that row 0 stands for (a process's part of a larger batch), for the dropout masks; default 0. */
  rowOffset?: number;
}

/**
 * How long the calling thread polls for the workers' part of a round before it waits on the event loop: the
 * slices of a step end within about a millisecond of each other when the cores are not shared.
 */
const COLLECT_SPIN_MS = 2;

export class ParallelEngine implements StepExecutor {
  readonly workers: number;
  readonly slices: [number, number][];
  private readonly pool: WorkerPool;
  private readonly ownPool?: Piscina;
  private readonly xs: Int32Array;
  private readonly ts: Int32Array;
  private readonly state: Float32Array;
  private readonly stateViews: Float32Array[];
  private readonly gradBlocks: Float32Array[];
  /**
   * When the model's head splits its work by words (OutputHead.split) and there are workers to split it among: the output
   * layer's input of every row and its gradient, [N,T,H] each, shared by the rounds ROWS, WORDS and BACK.
   */
  private readonly split?: { h: Float32Array; dh: Float32Array };
  /**
   * The dense part of the gradient (GradientSupport) in ranges [from, to), one per worker, cut at multiples of 16
   * floats (a cache line); the sparse rows of each step are cut into as many runs of rows.
   */
  readonly ranges: [number, number][];
  /** Where the last step's gradient can be non-zero: the batch's word ids as rows of embed.W, and the dense rest. */
  private readonly support: GradientSupport;
  /** The gradient blocks, parameters and gradients as the rounds name them (made once). */
  private readonly sharedBlocks: SharedF32[];
  private readonly sharedParams: SharedF32;
  private readonly sharedGrads: SharedF32;
  private hasState = false;
  /** The doorbell and the rounds' numbers (protocol.ts), and the serve loops once started (slices 1..). */
  private readonly control: Int32Array;
  private readonly args: Float64Array;
  private loops: Promise<unknown>[] = [];
  /** Why each serve loop ended (undefined while it runs): a loop ends only by EXIT or by failing. */
  private readonly ended: ({ reason: unknown } | undefined)[];
  /** Settles when the first serve loop ends. */
  private anyEnded: Promise<unknown> = Promise.resolve();
  /** Slice 0's rounds, run on this thread. */
  private readonly local: (command: number) => void;
  private failed = false;
  /** Whether every gradient block is zero (left so by the last reduce and update): the next step skips zeroing. */
  private gradsZero = false;
  /**
   * The sum of squares of the last step's summed gradient, computed while adding the blocks: the trainer's clipping
   * norm without another pass.
   */
  private lastSumSquares = 0;
  private readonly rowOffset: number;
  readonly rows: [number, number];

  constructor(private readonly model: LanguageModel, readonly N: number, readonly T: number, opts: ParallelOptions) {
    // A number of threads here: 'auto' is fit's to resolve.
    checkValue({ ...runOption('workers'), value: { type: 'int', min: 1 } }, opts.workers);
    checkRowShare(N, opts.workers);
    if (!(model.flatParams.buffer instanceof SharedArrayBuffer) || !(model.flatGrads.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('Parallel training needs a model whose parameters and gradients live in SharedArrayBuffers');
    }
    this.workers = opts.workers;
    this.rowOffset = opts.rowOffset ?? 0;
    this.rows = [this.rowOffset, this.rowOffset + N];
    this.slices = Array.from({ length: this.workers }, (_, k) => batchRows(N, k, this.workers));
    // Slice 0 writes straight into the model's gradients; the others into blocks that step() adds to them.
    const P = model.flatParams.length;
    const extraBlocks = new SharedArrayBuffer((this.workers - 1) * P * 4);
    this.gradBlocks = this.slices.map((_, k) => (k === 0 ? model.flatGrads : new Float32Array(extraBlocks, (k - 1) * P * 4, P)));
    this.support = new GradientSupport(model);
    this.sharedBlocks = this.gradBlocks.map(shared);
    this.sharedParams = shared(model.flatParams);
    this.sharedGrads = shared(model.flatGrads);
    this.ranges = [];
    const dense = P - this.support.denseFrom;
    for (let k = 0, from = this.support.denseFrom; k < this.workers; k++) {
      const to = k === this.workers - 1 ? P : Math.min(P, this.support.denseFrom + Math.ceil((dense * (k + 1)) / this.workers / 16) * 16);
      this.ranges.push([from, to]);
      from = to;
    }
    this.xs = new Int32Array(new SharedArrayBuffer(N * T * 4));
    this.ts = new Int32Array(new SharedArrayBuffer(N * T * 4));
    if (model.head.split && this.workers > 1) {
      const size = N * T * model.hiddenSize * 4;
      this.split = { h: new Float32Array(new SharedArrayBuffer(size)), dh: new Float32Array(new SharedArrayBuffer(size)) };
    }
    // The recurrent state of every row: S tensors [N,H] one after the other (S = model.stateNames.length).
    const NH = N * model.hiddenSize;
    const S = model.stateNames.length;
    this.state = new Float32Array(new SharedArrayBuffer(S * NH * 4));
    this.stateViews = Array.from({ length: S }, (_, k) => this.state.subarray(k * NH, (k + 1) * NH));
    const st = model.getState();
    if (st !== null && st[0].length === NH) {
      st.forEach((s, k) => this.stateViews[k].set(s));
      this.hasState = true;
    }
    if (opts.pool === undefined) {
      // Slice 0 runs on the main thread: the pool has a thread for each of the others.
      const threads = Math.max(1, this.workers - 1);
      this.ownPool = new Piscina({ filename: WORKER_FILE, minThreads: threads, maxThreads: threads, idleTimeout: 1000 });
    }
    this.pool = opts.pool ?? this.ownPool!;
    const threads = this.pool.options?.maxThreads;
    if (threads !== undefined && threads < this.workers - 1) {
      throw new RangeError(`the pool has ${threads} threads but ${this.workers} workers need ${this.workers - 1} (slice 0 runs on this thread)`);
    }
    this.control = new Int32Array(new SharedArrayBuffer(controlSize(this.workers) * 4));
    this.args = new Float64Array(new SharedArrayBuffer(argsSize(this.workers) * 8));
    this.ended = this.slices.map(() => undefined);
    this.local = handlers.roundRunner(this.serveTask(0));
  }

  /** What slice k's rounds work on: its rows, the shared buffers, its part of the parameters and the doorbell. */
  private serveTask(slice: number): ServeTask {
    const m = this.model, s = this.support, [row0, row1] = this.slices[slice];
    return {
      step: {
        slice, row0, row1, rowOffset: this.rowOffset, N: this.N, T: this.T, config: m.config, seed: m.seed,
        backend: m.backend.name, precision: m.backend.precision, params: m.flatParams.buffer as SharedArrayBuffer,
        grads: this.gradBlocks[slice].buffer as SharedArrayBuffer, gradsOffset: this.gradBlocks[slice].byteOffset,
        xs: this.xs.buffer as SharedArrayBuffer, ts: this.ts.buffer as SharedArrayBuffer, state: this.state.buffer as SharedArrayBuffer,
        split: this.split && {
          hidden: this.split.h.buffer as SharedArrayBuffer, dhidden: this.split.dh.buffer as SharedArrayBuffer,
          grads: m.flatGrads.buffer as SharedArrayBuffer, gradsOffset: m.flatGrads.byteOffset,
        },
      },
      skip: this.split && m.head.split!.gradRange,
      workers: this.workers, blocks: this.sharedBlocks, params: this.sharedParams, grads: this.sharedGrads,
      from: this.ranges[slice][0], to: this.ranges[slice][1], rows: this.support.rows.buffer as SharedArrayBuffer, V: s.V, D: s.D,
      control: this.control.buffer as SharedArrayBuffer, args: this.args.buffer as SharedArrayBuffer, seq: Atomics.load(this.control, CONTROL.SEQ),
    };
  }

  /** Starts a serve loop on a pool thread for every slice but 0 (once). */
  private start(): void {
    if (this.loops.length > 0 || this.workers === 1) return;
    this.loops = this.slices.slice(1).map((_, i) => {
      const slice = i + 1, loop = this.pool.run(this.serveTask(slice), { name: 'serve' });
      loop.then(() => { this.ended[slice] = { reason: new Error('its serve loop ended') }; }, (reason) => { this.ended[slice] = { reason }; });
      return loop;
    });
    // Settles after the loop's own handler above has recorded why it ended.
    this.anyEnded = Promise.race(this.loops.map((loop) => loop.then(() => undefined, () => undefined)));
  }

  /**
   * The batch's loss (mean over positions with a target) and its gradient in model.flatGrads (overwritten), for
   * xs, ts [N, T]; `iteration` keys the dropout masks; `whole` as StepExecutor.forwardBackward says. Rejects with a
   * WorkerError when any slice fails, after every slice has settled.
   */
  async forwardBackward(xs: Int32Array, ts: Int32Array, iteration = 0, where = '', whole?: WholeBatch): Promise<number> {
    this.xs.set(xs);
    this.ts.set(ts);
    const countTotal = whole?.count ?? countTargets(ts);
    const m = this.model, a = this.args;
    this.support.setIds(whole?.ids ?? xs);
    a[ARGS.ITERATION] = iteration;
    a[ARGS.HAS_STATE] = this.hasState ? 1 : 0;
    a[ARGS.ZERO_GRADS] = this.gradsZero ? 0 : 1;
    a[ARGS.COUNT_TOTAL] = countTotal;
    a[ARGS.ROW_COUNT] = this.support.rowCount;
    this.gradsZero = false;
    let lossSum: number;
    if (this.split) {
      // The slices to the output layer and its per-row part; the output's words by parts, over all rows, each worker
      // reading and writing only its part's output weights; the slices' backwards.
      const parts = m.head.split!.parts(ts, this.workers);
      parts.forEach((b, k) => { a[partIndex(this.workers, k)] = b; });
      await this.round(COMMAND.ROWS, where);
      lossSum = this.resultSum();
      await this.round(COMMAND.WORDS, where);
      lossSum += this.resultSum();
      await this.round(COMMAND.BACK, where);
    } else {
      await this.round(COMMAND.STEP, where);
      lossSum = this.resultSum();
    }
    this.hasState = true;
    m.setState(this.stateViews); // the model's own state stays current (checkpoints, evaluation between epochs)
    // Sum the blocks in slice order (block 0 is flatGrads), each worker over its range of the parameters: the same
    // numbers whichever thread ran which slice. The sums of squares of the result come with it (clipping's norm).
    await this.round(COMMAND.REDUCE, where);
    this.lastSumSquares = this.resultSum();
    return countTotal === 0 ? 0 : lossSum / countTotal;
  }

  async prepare(_xs: Int32Array, _ts: Int32Array, stop: boolean): Promise<boolean> {
    return stop;
  }

  gradSumSquares(): number {
    return this.lastSumSquares;
  }

  /** Nothing to do: forwardBackward() leaves the model's state current. */
  async syncModel(): Promise<void> {}

  /**
   * The optimizer's update (sgdStep) with the summed gradient, each worker over its range of the parameters: as the
   * serial executor's in one thread (the gradient is left zero).
   */
  async applyUpdate(update: ParamUpdate, where = ''): Promise<void> {
    this.args[ARGS.LR] = update.lr;
    await this.round(COMMAND.UPDATE, where);
    this.gradsZero = true; // the reduce zeroed blocks 1.., the update block 0
  }

  /** The sum of the last round's results, in slice order. */
  private resultSum(): number {
    let sum = 0;
    for (let k = 0; k < this.workers; k++) sum += this.args[ARGS.RESULT + k];
    return sum;
  }

  /**
   * One round: rings the serve loops, runs slice 0's part on this thread, and waits for every worker's. Rejects
   * with the first failure, in slice order, after every worker has finished the round.
   */
  private async round(command: number, where: string): Promise<void> {
    if (this.failed) throw new Error('the parallel engine stopped at an earlier failure');
    this.start();
    const control = this.control;
    Atomics.store(control, CONTROL.COMMAND, command);
    const seq = Atomics.add(control, CONTROL.SEQ, 1) + 1;
    Atomics.notify(control, CONTROL.SEQ);
    let failure: { slice: number; reason: unknown } | undefined;
    try {
      this.local(command);
    } catch (reason) {
      failure = { slice: 0, reason };
    }
    for (let k = 1; k < this.workers; k++) {
      const spinUntil = performance.now() + COLLECT_SPIN_MS;
      for (;;) {
        const done = Atomics.load(control, CONTROL.DONE + k);
        if (done === seq || this.ended[k]) break;
        if (performance.now() < spinUntil) continue;
        // Wait without blocking the event loop, which reports a thread that died.
        const wait = Atomics.waitAsync(control, CONTROL.DONE + k, done);
        if (wait.async) await Promise.race([wait.value, this.anyEnded]);
      }
      if (Atomics.load(control, failedIndex(this.workers, k)) !== 0) {
        // The loop threw after reporting the round: its task is about to reject with the reason.
        await this.loops[k - 1].catch(() => undefined);
      }
      const ended = this.ended[k];
      if (ended && !failure) failure = { slice: k, reason: ended.reason };
    }
    if (failure) {
      this.failed = true;
      throw new WorkerError(failure.slice, this.slices[failure.slice], where, failure.reason);
    }
  }

  resetState(): void {
    this.hasState = false;
    this.model.resetState();
  }

  /** Closes the pool the engine made (the model's hidden state is already current: step() copies it back). */
  async close(): Promise<void> {
    if (this.loops.length > 0) {
      Atomics.store(this.control, CONTROL.COMMAND, COMMAND.EXIT);
      Atomics.add(this.control, CONTROL.SEQ, 1);
      Atomics.notify(this.control, CONTROL.SEQ);
      await Promise.allSettled(this.loops);
    }
    await this.ownPool?.destroy();
  }
}
