import type { LanguageModel } from './model';
import { DEFAULTS } from './defaults';
import { checkValue } from './options';
import { checkRowShare, checkSameOnRanks, checksum, processShare, sumOverRanks, type Communicator } from './ranks';
import { runOption, type RunKey } from './run-options';
import { batchRows, SerialExecutor, type StepExecutor, type Traffic } from './executor';
import { clipScale, type SGD } from './optimizer';
import { autoBlasThreads, autoWorkers, ParallelEngine, type WorkerPool } from './parallel/engine';
import type { PlateauSchedule } from './schedule';
import { checkIdRange, sliceSource, tokenSource, Window, type TokenSource } from './data/tokens';

export interface FitOptions {
  /** Epochs, rows per batch (N) and steps per batch (T); DEFAULTS' (100, 10, 5) unless given. */
  maxEpoch?: number;
  batchSize?: number;
  timeSize?: number;
  /** Global-norm gradient clipping threshold; undefined for none. */
  maxGrad?: number;
  /** Report the running perplexity every this many iterations (and at the first); undefined for never. */
  evalInterval?: number;
  /** Called at every evalInterval report. */
  onReport?: (r: IterationReport) => void;
  /** Called after every epoch (after validation); training waits for a returned promise, and ends (normally) when it gives false. */
  onEpoch?: (r: EpochReport) => void | boolean | Promise<void | boolean>;
  /**
   * Validation after every epoch (the book's eval_perplexity on the model's evaluator, batch 10 x 35 unless given): its
   * perplexity goes into the EpochReport, and `schedule` decays the learning rate or ends the run by it.
   */
  validation?: { corpus: Int32Array | TokenSource; batchSize?: number; timeSize?: number; schedule?: PlateauSchedule };
  /**
   * Worker threads that split every batch by rows (default 'auto': serial for small models, else one per core;
   * see autoWorkers). 1 trains on the calling thread.
   */
  workers?: number | 'auto';
  /** A piscina pool made with `filename: WORKER_FILE` and at least workers - 1 threads to run the workers on (not closed by fit). */
  pool?: WorkerPool;
  /** OpenBLAS threads while training (native backend; default autoBlasThreads: 1 for small models, else cores / workers). */
  blasThreads?: number;
  /** Stops training after the current iteration: fit rejects with a TrainingInterruptedError. */
  signal?: { readonly aborted: boolean };
  /** Called after every iteration with its loss (for progress displays). */
  onStep?: (p: { epoch: number; iter: number; iters: number; loss: number }) => void;
  /** Continue a run from this state (see RnnlmTrainer.state()); the model's hidden state must be restored too. */
  resume?: TrainerState;
  /** Stop a run whose running perplexity stays worse than uniform after warm-up (default true; see DIVERGENCE_*). */
  divergenceCheck?: boolean;
  /** End this fit after so many iterations (a quick check of a recipe), mid-epoch if need be. */
  maxIters?: number;
  /**
   * The executor to step on, made by the caller over the whole batch (batchSize rows) and not closed by fit; by
   * default fit makes one from `workers` (and `ranks`). Goes without `workers` and `ranks`, which it embodies.
   */
  executor?: StepExecutor;
  /**
   * Train as one rank of a data-parallel run across processes (distributed.ts: mpiWorld()): this process takes its
   * rows of every batch, on its own `workers`, and every rank applies the summed gradient. Every rank calls fit
   * with the same arguments; the weights stay the same on all.
   */
  ranks?: Communicator;
}

/**
 * Everything besides the model (weights, hidden state) and the optimizer that decides how training continues:
 * a run stopped in this state and resumed from it computes the same numbers as one that never stopped.
 */
export interface TrainerState {
  /** The epoch in progress (1-based), or the next one when `iter` is 0. */
  epoch: number;
  /** Iterations of `epoch` completed. */
  iter: number;
  /** The batch cutter's running time index. */
  timeIdx: number;
  /** Sum of the losses of the completed iterations of `epoch`. */
  epochLoss: number;
  /** Loss sum and count since the last report. */
  reportLoss: number;
  reportCount: number;
  /** Training seconds so far, over every run that led here. */
  elapsedS: number;
}

export interface IterationReport {
  epoch: number;
  /** 1-based iteration within the epoch. */
  iter: number;
  iters: number;
  /** exp(mean loss) since the previous report. */
  ppl: number;
  elapsedS: number;
  tokensPerS: number;
  /** Milliseconds per iteration since the previous report. */
  msPerIter: number;
  /** The learning rate of these iterations. */
  lr: number;
}

export interface EpochReport {
  epoch: number;
  /** exp(mean loss over the epoch's iterations). */
  ppl: number;
  elapsedS: number;
  tokensPerS: number;
  /** The learning rate the epoch trained with. */
  lr: number;
  /** With FitOptions.validation: the validation perplexity, and what the schedule decided. */
  valPpl?: number;
  /** The best validation perplexity so far (keep these weights). */
  best?: boolean;
  /** The learning rate of the next epoch. */
  nextLr?: number;
  /** The schedule ends the run after this epoch. */
  stopping?: boolean;
}

/** The largest loss whose perplexity exp(loss) is a finite double. */
const MAX_LOSS = Math.log(Number.MAX_VALUE);

/** A perplexity for a message: a whole number, or 3 significant digits from a million on (4.76e+28, not 47638848663037400000000000000). */
export function formatPerplexity(ppl: number): string {
  return ppl < 1e6 ? String(Math.round(ppl)) : ppl.toExponential(2);
}

/** Training produced a loss that is not a finite number, or stayed worse than guessing uniformly. */
export class TrainingDivergedError extends Error {
  constructor(readonly epoch: number, readonly iter: number, readonly loss: number, what = 'loss became', detail = `${loss}`) {
    super(`${what} ${detail} at epoch ${epoch}, iteration ${iter}: training diverged; lower --lr or set --max-grad`);
    this.name = 'TrainingDivergedError';
  }
}

/**
 * After DIVERGENCE_WARMUP iterations of a run, a running perplexity (mean loss of the last DIVERGENCE_WINDOW
 * iterations) above DIVERGENCE_RATIO times the vocabulary size is worse than guessing every word uniformly:
 * the run has diverged even though its numbers are finite.
 */
export const DIVERGENCE_WARMUP = 300;
export const DIVERGENCE_WINDOW = 100;
export const DIVERGENCE_RATIO = 1.1;

/** Training was stopped through FitOptions.signal; says where. */
export class TrainingInterruptedError extends Error {
  /** `state` is where to resume: iterations before `iter` are complete. */
  constructor(readonly epoch: number, readonly iter: number, readonly state: TrainerState) {
    super(`training interrupted at epoch ${epoch}, iteration ${iter}`);
    this.name = 'TrainingInterruptedError';
  }
}

/**
 * Cuts [batchSize, timeSize] batches from a corpus exactly as the book's trainer does: row i reads from
 * offset i * floor(len / batchSize), and one running time index advances across iterations and epochs. Each row
 * reads its inputs and targets through a window of its own, so a corpus on disk is read a stretch at a time.
 * With `rows` [row0, row1), the cutter makes only those rows of each batch (xs, ts [row1 - row0, timeSize]) and
 * reads only their stretches: one process's part of a data-parallel run.
 */
export class BatchCutter {
  readonly xs: Int32Array;
  readonly ts: Int32Array;
  /** The running time index (book: time_idx). */
  timeIdx = 0;
  private readonly offsets: number[];
  private readonly size: number;
  private readonly xRows: Window[];
  private readonly tRows: Window[];

  constructor(x: Int32Array | TokenSource, t: Int32Array | TokenSource, readonly batchSize: number, readonly timeSize: number,
    rows: [number, number] = [0, batchSize]) {
    const xSource = tokenSource(x), tSource = tokenSource(t);
    if (xSource.length !== tSource.length) throw new RangeError(`xs and ts differ in length (${xSource.length} vs ${tSource.length})`);
    this.size = xSource.length;
    const jump = Math.floor(this.size / batchSize), n = rows[1] - rows[0];
    this.offsets = Array.from({ length: n }, (_, i) => (rows[0] + i) * jump);
    this.xRows = Array.from({ length: n }, () => new Window(xSource));
    this.tRows = Array.from({ length: n }, () => new Window(tSource));
    this.xs = new Int32Array(n * timeSize);
    this.ts = new Int32Array(n * timeSize);
  }

  /** Fills xs, ts ([rows, timeSize], row-major) with the next batch. */
  next(): void {
    const { timeSize: T, offsets, size } = this;
    for (let i = 0; i < offsets.length; i++) {
      const xRow = this.xRows[i], tRow = this.tRows[i];
      for (let time = 0; time < T; time++) {
        const j = (offsets[i] + this.timeIdx + time) % size;
        this.xs[i * T + time] = xRow.at(j);
        this.ts[i * T + time] = tRow.at(j);
      }
    }
    this.timeIdx += T;
  }
}

/** A fit option checked against the run option of its name (src/run-options.ts), when given. */
function checkOption(key: RunKey, v: unknown): void {
  if (v !== undefined) checkValue(runOption(key), v);
}

/** The book's RnnlmTrainer: truncated-BPTT training of a stateful RNN language model. */
export class RnnlmTrainer {
  /** Running perplexities recorded at every report, as the book's ppl_list. */
  pplList: number[] = [];
  /** Perplexity of every epoch. */
  epochPpl: number[] = [];
  /** Worker threads used by the last fit (1 = serial). */
  workers = 1;
  /** The last fit's exchanges between processes (FitOptions.ranks): bytes and milliseconds over its steps. */
  traffic?: Traffic;
  /** Whether the last fit ended because onEpoch returned false. */
  stoppedEarly = false;
  private current?: TrainerState;

  constructor(readonly model: LanguageModel, readonly optimizer: SGD) {}

  /** A copy of the training state between iterations (inside fit's callbacks, or after fit), for checkpoints. */
  state(): TrainerState | undefined {
    return this.current && { ...this.current };
  }

  /**
   * Trains on inputs xs and targets ts (usually a corpus and the same shifted by one; see corpusPairs): arrays, or
   * TokenSources read a stretch at a time.
   */
  async fit(xs: Int32Array | TokenSource, ts: Int32Array | TokenSource, opts: FitOptions = {}): Promise<EpochReport[]> {
    const plan = fitPlan(this.model, xs, ts, opts);
    const model = this.model;
    model.train();
    this.workers = plan.workers;
    const st = startState(opts.resume, plan.maxIters);
    if (opts.ranks) checkSameRun(opts.ranks, model, plan, opts, st, xs.length);
    this.current = st;
    this.pplList = [];
    this.epochPpl = [];
    this.stoppedEarly = false;
    const run: Run = {
      plan, opts, st, batches: new BatchCutter(xs, ts, plan.batchSize, plan.timeSize, plan.rows), done: 0,
      executor: opts.executor ?? makeExecutor(model, plan, opts),
      divergence: new DivergenceWatch(model.vocabSize, opts.divergenceCheck !== false),
      start: performance.now() - st.elapsedS * 1000, reportStart: performance.now(), lastYield: performance.now(),
    };
    run.batches.timeIdx = st.timeIdx;
    // The backend's BLAS threads (process-wide) for this run, restored afterwards.
    const blasThreads = model.backend.getThreads();
    model.backend.setThreads(opts.blasThreads ?? autoBlasThreads(model, plan.rows[1] - plan.rows[0], plan.timeSize, plan.workers, plan.cores));
    const reports: EpochReport[] = [];
    try {
      for (; st.epoch <= plan.maxEpoch; st.epoch++, st.iter = 0, st.epochLoss = 0) {
        const epochStart = performance.now(), firstIter = st.iter + 1;
        for (let iter = firstIter; iter <= plan.maxIters && !(opts.maxIters !== undefined && run.done >= opts.maxIters); iter++) {
          await this.iteration(run, iter);
        }
        if (st.iter < plan.maxIters) break; // stopped by maxIters mid-epoch
        const report = this.epochReport(run, plan.maxIters - firstIter + 1, (performance.now() - epochStart) / 1000);
        reports.push(report);
        if (await this.endEpoch(run, report)) break;
      }
      await run.executor.syncModel();
    } finally {
      this.traffic = run.executor.traffic;
      if (!opts.executor) await run.executor.close();
      model.backend.setThreads(blasThreads);
    }
    this.current = { ...st };
    return reports;
  }

  /** One training iteration: the next batch, its loss and gradient, clipping, the update, the running reports. */
  private async iteration(run: Run, iter: number): Promise<void> {
    const { st, opts, plan, executor } = run;
    await yieldNow(run);
    run.batches.next();
    if (await executor.prepare(run.batches.xs, run.batches.ts, opts.signal?.aborted === true)) {
      st.elapsedS = elapsed(run);
      await executor.syncModel();
      throw new TrainingInterruptedError(st.epoch, iter, { ...st });
    }
    // The iteration over the whole run keys the dropout masks: a resumed run draws the same ones.
    const iteration = (st.epoch - 1) * plan.maxIters + iter - 1;
    const where = ` at epoch ${st.epoch}, iteration ${iter}`;
    const loss = await executor.forwardBackward(run.batches.xs, run.batches.ts, iteration, where);
    checkLoss(loss, st.epoch, iter, run.done === 0 && !opts.resume && st.epoch === 1 && iter === 1);
    run.divergence.check(loss, iteration, st.epoch, iter);
    // Clipping as the book's clip_grads, folded into the update: param -= lr * rate * grad in one pass.
    const rate = opts.maxGrad === undefined ? 1 : clipScale(Math.sqrt(executor.gradSumSquares()), opts.maxGrad);
    await this.optimizer.step(executor, rate, where);
    st.iter = iter;
    run.done++;
    st.timeIdx = run.batches.timeIdx;
    st.epochLoss += loss;
    st.reportLoss += loss;
    st.reportCount++;
    opts.onStep?.({ epoch: st.epoch, iter, iters: plan.maxIters, loss });
    if (opts.evalInterval !== undefined && (iter - 1) % opts.evalInterval === 0) this.report(run, iter);
  }

  /** The running perplexity since the last report (the book's ppl_list), to onReport. */
  private report(run: Run, iter: number): void {
    const { st, plan } = run;
    const now = performance.now();
    const ppl = Math.exp(st.reportLoss / st.reportCount);
    this.pplList.push(ppl);
    st.elapsedS = elapsed(run);
    run.opts.onReport?.({
      epoch: st.epoch, iter, iters: plan.maxIters, ppl, elapsedS: st.elapsedS,
      tokensPerS: (st.reportCount * plan.batchSize * plan.timeSize) / Math.max(1e-9, (now - run.reportStart) / 1000),
      msPerIter: (now - run.reportStart) / st.reportCount, lr: this.optimizer.lr,
    });
    st.reportLoss = 0;
    st.reportCount = 0;
    run.reportStart = performance.now();
  }

  /** The finished epoch's report, after checking that the parameters are finite, with validation when asked. */
  private epochReport(run: Run, iters: number, seconds: number): EpochReport {
    const { st, plan, opts } = run;
    const { model, optimizer } = this;
    if (!Number.isFinite(model.backend.sumSquares(model.flatParams))) {
      throw new TrainingDivergedError(st.epoch, plan.maxIters, NaN, 'a parameter became');
    }
    const ppl = Math.exp(st.epochLoss / plan.maxIters);
    this.epochPpl.push(ppl);
    st.elapsedS = elapsed(run);
    const report: EpochReport = {
      epoch: st.epoch, ppl, elapsedS: st.elapsedS, tokensPerS: (iters * plan.batchSize * plan.timeSize) / Math.max(1e-9, seconds), lr: optimizer.lr,
    };
    const v = opts.validation;
    if (v) {
      report.valPpl = evalPerplexity(model, v.corpus, v.batchSize, v.timeSize, undefined, opts.ranks); // on its own state
      const decision = v.schedule?.observe(report.valPpl, optimizer.lr);
      if (decision) {
        optimizer.lr = decision.lr;
        Object.assign(report, { best: decision.best, nextLr: decision.lr, stopping: decision.stop });
      }
    }
    return report;
  }

  /** Hands the report to onEpoch; true when the run ends here (the schedule or onEpoch stopped it early). */
  private async endEpoch(run: Run, report: EpochReport): Promise<boolean> {
    const st = run.st;
    // The state a checkpoint written here resumes from: the next epoch, nothing of it done.
    this.current = { ...st, epoch: st.epoch + 1, iter: 0, epochLoss: 0 };
    await run.executor.syncModel();
    const go = (await run.opts.onEpoch?.(report)) !== false && !report.stopping;
    if (go) {
      this.current = st;
      return false;
    }
    // Stopped early: the run ends here, as if this had been the last epoch.
    Object.assign(st, this.current);
    this.stoppedEarly = true;
    return true;
  }
}

/** A fit's shapes, checked. */
interface FitPlan {
  maxEpoch: number;
  batchSize: number;
  timeSize: number;
  /** Iterations per epoch. */
  maxIters: number;
  /** This process's rows of every batch (all of them unless FitOptions.ranks), and its worker threads. */
  rows: [number, number];
  workers: number;
  /** The cores this process may use: the machine's, shared among the ranks on it. */
  cores: number;
}

/** The executor of a fit: serial or on worker threads over this process's rows, and across the ranks when distributed. */
function makeExecutor(model: LanguageModel, plan: FitPlan, opts: FitOptions): StepExecutor {
  const local = (rows: number, rowOffset: number): StepExecutor => (plan.workers > 1
    ? new ParallelEngine(model, rows, plan.timeSize, { workers: plan.workers, pool: opts.pool, rowOffset })
    : new SerialExecutor(model, rows, plan.timeSize, rowOffset));
  return opts.ranks ? opts.ranks.stepExecutor(model, plan.batchSize, plan.timeSize, local) : local(plan.batchSize, 0);
}

/** What one fit works with, made once. */
interface Run {
  plan: FitPlan;
  opts: FitOptions;
  st: TrainerState;
  batches: BatchCutter;
  executor: StepExecutor;
  divergence: DivergenceWatch;
  /** Iterations done by this fit. */
  done: number;
  start: number;
  reportStart: number;
  lastYield: number;
}

/** The options and the data checked against the model, with the defaults filled in. */
function fitPlan(model: LanguageModel, xs: Int32Array | TokenSource, ts: Int32Array | TokenSource, opts: FitOptions): FitPlan {
  const maxEpoch = opts.maxEpoch ?? DEFAULTS.maxEpoch, batchSize = opts.batchSize ?? DEFAULTS.batchSize, timeSize = opts.timeSize ?? DEFAULTS.timeSize;
  for (const [k, v] of [['maxEpoch', maxEpoch], ['batchSize', batchSize], ['timeSize', timeSize], ['maxGrad', opts.maxGrad],
    ['evalInterval', opts.evalInterval], ['maxIters', opts.maxIters], ['workers', opts.workers], ['blasThreads', opts.blasThreads]] as const) checkOption(k, v);
  const maxIters = Math.floor(xs.length / (batchSize * timeSize));
  if (maxIters < 1) {
    throw new RangeError(`batchSize * timeSize (${batchSize} * ${timeSize} = ${batchSize * timeSize}) exceeds the corpus of ${xs.length} tokens`);
  }
  checkIdRange(xs, model.vocabSize);
  checkIdRange(ts, model.vocabSize, -1); // -1: an ignored target
  const ranks = opts.ranks;
  if (opts.executor) return { maxEpoch, batchSize, timeSize, maxIters, ...handedExecutor(opts, batchSize) };
  checkRowShare(batchSize, typeof opts.workers === 'number' ? opts.workers : 1, ranks);
  const { rows, cores } = processShare(batchSize, ranks);
  const workers = typeof opts.workers === 'number' ? opts.workers : autoWorkers(model, rows[1] - rows[0], timeSize, cores);
  return { maxEpoch, batchSize, timeSize, maxIters, rows, workers, cores };
}

/** The rows and workers of an executor handed to fit: the whole batch's, on this process's cores. */
function handedExecutor(opts: FitOptions, batchSize: number): Pick<FitPlan, 'rows' | 'workers' | 'cores'> {
  const e = opts.executor!;
  if (opts.workers !== undefined || opts.ranks !== undefined) throw new RangeError('an executor goes without workers and ranks: it is the one that splits the batch');
  if (e.rows[0] !== 0 || e.rows[1] !== batchSize) {
    throw new RangeError(`the executor steps rows ${e.rows[0]}..${e.rows[1]} but the batch has ${batchSize}: hand fit an executor over the whole batch`);
  }
  return { rows: e.rows, workers: e.workers, cores: processShare(batchSize).cores };
}

/** Every rank of a distributed fit starts the same run: the same corpus length, shapes, weights and place in it. */
function checkSameRun(ranks: Communicator, model: LanguageModel, plan: FitPlan, opts: FitOptions, st: TrainerState, length: number): void {
  checkSameOnRanks(ranks, {
    'a corpus of length': length, batchSize: plan.batchSize, timeSize: plan.timeSize, maxEpoch: plan.maxEpoch, maxIters: opts.maxIters ?? 0,
    'weights with checksum': checksum(model.flatParams), 'resume epoch': st.epoch, 'resume iteration': st.iter, 'time index': st.timeIdx,
  }, 'every rank must start the same run (the same data, flags, and --init or --resume file)');
}

/** A new run's state, or a copy of the one to resume, checked. */
function startState(resume: TrainerState | undefined, maxIters: number): TrainerState {
  const st: TrainerState = resume
    ? { ...resume }
    : { epoch: 1, iter: 0, timeIdx: 0, epochLoss: 0, reportLoss: 0, reportCount: 0, elapsedS: 0 };
  if (!(Number.isInteger(st.epoch) && st.epoch >= 1 && Number.isInteger(st.iter) && st.iter >= 0 && st.iter < maxIters
    && Number.isInteger(st.timeIdx) && st.timeIdx >= 0)) {
    throw new RangeError(`Cannot resume at epoch ${st.epoch}, iteration ${st.iter} of ${maxIters}`);
  }
  return st;
}

function elapsed(run: Run): number {
  return (performance.now() - run.start) / 1000;
}

/**
 * Training hardly waits on anything (the workers' rounds are collected by polling shared memory): let the event
 * loop run (signal handlers, timers, the caller's callbacks) now and then.
 */
async function yieldNow(run: Run): Promise<void> {
  if (performance.now() - run.lastYield <= 50) return;
  await new Promise((resolve) => setImmediate(resolve));
  run.lastYield = performance.now();
}

/** A loss past MAX_LOSS makes the perplexity overflow to Infinity: the run has diverged as surely as with NaN. */
function checkLoss(loss: number, epoch: number, iter: number, beforeAnyUpdate: boolean): void {
  if (loss <= MAX_LOSS) return;
  // Before any update the weights themselves are at fault, not the learning rate.
  if (beforeAnyUpdate) throw new RangeError(`the initial weights give a loss of ${loss} on the first batch, before any update: they overflow`);
  throw new TrainingDivergedError(epoch, iter, loss);
}

/** The running mean of the last DIVERGENCE_WINDOW losses, checked against guessing uniformly (a ring, made once). */
class DivergenceWatch {
  private readonly recent = new Float64Array(DIVERGENCE_WINDOW);
  private sum = 0;
  private count = 0;
  private readonly uniformLoss: number;

  constructor(private readonly V: number, private readonly enabled: boolean) {
    this.uniformLoss = Math.log(DIVERGENCE_RATIO * V);
  }

  check(loss: number, iteration: number, epoch: number, iter: number): void {
    if (!this.enabled) return;
    const slot = this.count % DIVERGENCE_WINDOW;
    this.sum += loss - this.recent[slot];
    this.recent[slot] = loss;
    this.count++;
    const mean = this.sum / DIVERGENCE_WINDOW;
    if (this.count >= DIVERGENCE_WINDOW && iteration + 1 >= DIVERGENCE_WARMUP && mean > this.uniformLoss) {
      throw new TrainingDivergedError(epoch, iter, mean, 'the running perplexity',
        `${formatPerplexity(Math.exp(mean))} (over the last ${DIVERGENCE_WINDOW} iterations) is worse than guessing uniformly among ${this.V} words`);
    }
  }
}

/**
 * Perplexity of a model over a whole corpus, as the book's eval_perplexity: from a fresh state, [batchSize, timeSize]
 * windows walk the corpus in order, and ppl = exp(mean window loss). Runs on the model's evaluator (shared
 * weights, its own state, no dropout), so the model's training state is not touched. With `ranks` (every rank
 * calling it alike), each rank evaluates its rows of every window (batchRows) and the loss sums are added in rank
 * order: the same perplexity on every rank, in 1/R of the time.
 */
export function evalPerplexity(model: LanguageModel, corpus: Int32Array | TokenSource, batchSize: number = DEFAULTS.evalBatchSize, timeSize: number = DEFAULTS.evalTimeSize,
  onProgress?: (iter: number, iters: number) => void, ranks?: Communicator): number {
  checkOption('evalBatchSize', batchSize);
  checkOption('evalTimeSize', timeSize);
  const source = tokenSource(corpus);
  const size = source.length;
  const maxIters = Math.floor((size - 1) / (batchSize * timeSize));
  if (maxIters < 1) {
    throw new RangeError(`batchSize * timeSize (${batchSize * timeSize}) exceeds the corpus of ${size} tokens`);
  }
  checkIdRange(source, model.vocabSize);
  // Ranks split the rows when each can have one; otherwise every rank evaluates all of them.
  const split = ranks !== undefined && ranks.size > 1 && ranks.size <= batchSize;
  const rows = split ? batchRows(batchSize, ranks.rank, ranks.size) : [0, batchSize] as [number, number];
  const n = rows[1] - rows[0];
  // The book's eval_perplexity reads row i from i * floor((size - 1) / N), inputs and targets one apart, advancing T
  // per iteration: the training batches' cut over the corpus and the corpus shifted by one (it never wraps here).
  const batches = new BatchCutter(sliceSource(source, 0, size - 1), sliceSource(source, 1, size - 1), batchSize, timeSize, rows);
  const evaluator = model.evaluator();
  evaluator.resetState();
  // The sum of the windows' mean losses (each the mean over this process's rows, weighted by them when split).
  let total = 0;
  for (let iter = 0; iter < maxIters; iter++) {
    batches.next();
    const loss = evaluator.forward(batches.xs, batches.ts, n, timeSize);
    total += split ? loss * n : loss;
    onProgress?.(iter + 1, maxIters);
  }
  evaluator.resetState();
  const ppl = Math.exp(split ? sumOverRanks(ranks, total) / (batchSize * maxIters) : total / maxIters);
  if (!Number.isFinite(ppl)) {
    throw new RangeError(`the model's scores are not finite (NaN or overflow): its weights give a perplexity of ${ppl}`);
  }
  return ppl;
}
