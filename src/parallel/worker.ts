/**
 * The piscina worker: one file, loaded once per thread. Its task is `serve` (`run(task, { name: 'serve' })`): a
 * loop that holds the thread for the engine's lifetime and runs the rounds the engine rings for in shared memory
 * (see protocol.ts); `step`, `reduce` and `update` are the rounds (`rows`, `words` and `back` in place of `step` for a
 * model that splits its output by words), which the engine's own thread runs for slice 0 through the same
 * roundRunner. Each runner holds its slice's model replica, whose parameters are views on the trainer's shared
 * parameter buffer (no copies) and whose gradients go to that slice's shared gradient block; it lives as long as
 * the serve loop (or, for slice 0, the engine), so the file keeps no state of its own. The
 * recurrent state of the slice's rows lives in shared memory too, so any thread can run any slice and row i's
 * state continues only with row i. The replica is built from the task's model config: this file names no cell.
 */
import { resolveBackend } from '../backend';
import { countTargets } from '../executor';
import { addSumSquaresOver, sumSquaresOver, type SupportSpan } from '../gradient';
import { sgdStep } from '../optimizer';
import type { HeadSplit } from '../heads';
import { LanguageModel } from '../model';
import {
  ARGS, COMMAND, CONTROL, failedIndex, partIndex, rowRun,
  type ReduceTask, type ServeTask, type SharedF32, type StepResult, type StepTask, type SupportPart, type UpdateTask, type WordsTask,
} from './protocol';

export interface Replica {
  model: LanguageModel;
  /** This slice's rows of every state tensor, views on the shared state. */
  state: Float32Array[];
  /**
   * Split steps: the output layer's input and its gradient, of this slice's rows and of all rows (shared), and the
   * model whose words part runs: this one, or (slices 1..) one with the same parameters and block 0's gradient.
   */
  split?: { h: Float32Array; dh: Float32Array; hAll: Float32Array; dhAll: Float32Array; tsAll: Int32Array; words: LanguageModel };
}

/** A slice's replica, made from its first round's task; its serve loop (or the engine, for slice 0) holds it. */
function makeReplica(task: StepTask): Replica {
  const params = new Float32Array(task.params);
  const P = params.length;
  const grads = new Float32Array(task.grads, task.gradsOffset, P);
  const backend = resolveBackend(task.backend, task.precision);
  const model = new LanguageModel(task.config, { backend, seed: task.seed, buffers: { params, grads } });
  const NH = task.N * task.config.hiddenSize, H = task.config.hiddenSize;
  const state = model.stateNames.map((_, k) => new Float32Array(task.state, (k * NH + task.row0 * H) * 4, (task.row1 - task.row0) * H));
  const r: Replica = { model, state };
  const sp = task.split;
  if (sp) {
    const hAll = new Float32Array(sp.hidden), dhAll = new Float32Array(sp.dhidden), from = task.row0 * task.T * H, to = task.row1 * task.T * H;
    const block0 = new Float32Array(sp.grads, sp.gradsOffset, P);
    const words = block0.buffer === grads.buffer && block0.byteOffset === grads.byteOffset ? model
      : new LanguageModel(task.config, { backend, seed: task.seed, buffers: { params, grads: block0 } });
    r.split = { h: hAll.subarray(from, to), dh: dhAll.subarray(from, to), hAll, dhAll, tsAll: new Int32Array(task.ts), words };
  }
  return r;
}

function splitViews(r: Replica): NonNullable<Replica['split']> {
  if (!r.split) throw new Error('this step was not given the shared buffers of a split output');
  return r.split;
}

/** Rows [row0, row1) of the batch, with the replica's state and gradient block ready for a step. */
function begin(task: StepTask, r: Replica): { xs: Int32Array; ts: Int32Array; count: number } {
  const { row0, row1, T } = task;
  const n = row1 - row0;
  const xs = new Int32Array(task.xs, row0 * T * 4, n * T);
  const ts = new Int32Array(task.ts, row0 * T * 4, n * T);
  if (task.hasState) r.model.setState(r.state);
  else r.model.resetState();
  if (task.zeroGrads) r.model.zeroGrads();
  return { xs, ts, count: countTargets(ts) };
}

/** Forward and backward of rows [row0, row1): gradients scaled so that the slices sum to the batch gradient. */
export function step(task: StepTask, r: Replica): StepResult {
  const { model, state } = r;
  const { xs, ts, count } = begin(task, r);
  const scale = task.countTotal === 0 ? 0 : count / task.countTotal;
  const loss = model.forwardBackward(xs, ts, task.row1 - task.row0, task.T, { iteration: task.iteration, row0: task.rowOffset + task.row0 }, scale);
  model.getState()!.forEach((s, k) => state[k].set(s));
  return { lossSum: loss * count, count };
}

/** The gradient scale of a split step's parts: each position's loss over the batch's count (0 when none counts). */
function splitScale(task: StepTask): number {
  return task.countTotal === 0 ? 0 : 1 / task.countTotal;
}

/**
 * A split step's first round on rows [row0, row1): the forward to the output layer, whose input goes to the shared
 * h, and the head's per-row part (OutputHead.split.rows), whose gradient goes to the shared dh.
 */
export function rows(task: StepTask, r: Replica): StepResult {
  const { xs, ts, count } = begin(task, r);
  const v = splitViews(r), R = (task.row1 - task.row0) * task.T;
  const x = r.model.forwardHidden(xs, task.row1 - task.row0, task.T, { iteration: task.iteration, row0: task.rowOffset + task.row0 });
  v.h.set(x);
  const lossSum = headSplit(r.model).rows(x, ts, R, splitScale(task), v.dh);
  r.model.getState()!.forEach((s, k) => r.state[k].set(s));
  return { lossSum, count };
}

/**
 * The second: the head's words of part [lo, hi) over every row of the batch (OutputHead.split.words), their
 * gradient into block 0 (each part has its own words there).
 */
export function words(task: WordsTask, r: Replica): number {
  const v = splitViews(r);
  return headSplit(v.words).words(v.hAll, v.tsAll, task.step.N * task.step.T, task.lo, task.hi, splitScale(task.step), v.dhAll);
}

function headSplit(model: LanguageModel): HeadSplit {
  if (!model.head.split) throw new Error(`the '${model.config.output}' output layer does not split a step by words`);
  return model.head.split;
}

/** The third: the backward of rows [row0, row1) from their rows of the shared dh (LanguageModel.backwardFrom). */
export function back(_task: StepTask, r: Replica): void {
  r.model.backwardFrom(splitViews(r).dh);
}

/** A shared Float32 array as a view. */
function view(a: SharedF32): Float32Array {
  return new Float32Array(a.buffer, a.byteOffset, a.length);
}

/** The task's part of the gradient support, its rows read from the shared row list. */
function span(part: SupportPart): SupportSpan {
  return { from: part.from, to: part.to, rows: new Int32Array(part.rows, part.rowFrom * 4, part.rowTo - part.rowFrom), V: part.V, D: part.D };
}

/**
 * This part of the gradient blocks summed into block 0, in block order, leaving blocks 1.. zero for the next
 * backward; returns the sum of squares of the sum.
 */
export function reduce(task: ReduceTask): number {
  const backend = resolveBackend(task.backend);
  const part = span(task.part), sum = view(task.blocks[0]), last = task.blocks.length - 1;
  if (last === 0) return sumSquaresOver(backend, sum, part);
  // sum += block k, block k = 0; the sum of squares of the result comes with the last addition.
  const add = (piece: SupportSpan): number => {
    let squares = 0;
    for (let k = 1; k <= last; k++) squares = addSumSquaresOver(backend, sum, view(task.blocks[k]), true, piece);
    return squares;
  };
  if (!task.skip) return add(part);
  // Around the skipped range, which is only squared (the sparse rows, below the dense range, go with the first piece).
  const lo = Math.min(Math.max(part.from, task.skip[0]), part.to), hi = Math.min(Math.max(part.from, task.skip[1]), part.to);
  return add({ ...part, to: lo }) + backend.sumSquares(sum.subarray(lo, hi)) + add({ ...part, from: hi, rows: NO_ROWS });
}

const NO_ROWS = new Int32Array(0);

/** SGD on this part of the parameters, leaving the gradient zero for the next backward. */
export function update(task: UpdateTask): void {
  sgdStep(resolveBackend(task.backend), view(task.params), view(task.grads), task.lr, true, span(task.part));
}

/** The rounds a serve loop runs (the real ones, or a test's wrappers that inject failures). */
export interface Rounds {
  step(task: StepTask, r: Replica): StepResult;
  reduce(task: ReduceTask): number;
  update(task: UpdateTask): void;
  rows(task: StepTask, r: Replica): StepResult;
  words(task: WordsTask, r: Replica): number;
  back(task: StepTask, r: Replica): void;
}

/** This file's rounds. */
export const rounds: Rounds = { step, reduce, update, rows, words, back };

/**
 * How long a serve loop polls the doorbell before it sleeps in Atomics.wait: the engine rings again within
 * microseconds between the rounds of an iteration, and a sleeping thread takes tens to hundreds of them to wake.
 */
const SPIN_MS = 1;

/**
 * A slice's rounds over a ServeTask's buffers, made once: runs `command` with the round's numbers from the shared
 * arguments and stores its result there (the slice's loss sum, or its part's sum of squares). The serve loops and
 * the engine's own slice 0 run their rounds through it.
 */
export function roundRunner(task: ServeTask, run: Rounds = rounds): (command: number) => void {
  const args = new Float64Array(task.args);
  const k = task.step.slice, W = task.workers;
  const stepTask: StepTask = { ...task.step, iteration: 0, hasState: false, zeroGrads: true, countTotal: 0 };
  const part: SupportPart = { from: task.from, to: task.to, rows: task.rows, rowFrom: 0, rowTo: 0, V: task.V, D: task.D };
  const reduceTask: ReduceTask = { backend: task.step.backend, blocks: task.blocks, part, skip: task.skip };
  const updateTask: UpdateTask = { backend: task.step.backend, params: task.params, grads: task.grads, lr: 0, part };
  const wordsTask: WordsTask = { step: stepTask, lo: 0, hi: 0 };
  let replica: Replica | undefined;
  const r = (): Replica => (replica ??= makeReplica(stepTask));
  return (command) => {
    [part.rowFrom, part.rowTo] = rowRun(args[ARGS.ROW_COUNT], k, W);
    stepTask.iteration = args[ARGS.ITERATION];
    stepTask.hasState = args[ARGS.HAS_STATE] !== 0;
    stepTask.zeroGrads = args[ARGS.ZERO_GRADS] !== 0;
    stepTask.countTotal = args[ARGS.COUNT_TOTAL];
    if (command === COMMAND.STEP) {
      args[ARGS.RESULT + k] = run.step(stepTask, r()).lossSum;
    } else if (command === COMMAND.ROWS) {
      args[ARGS.RESULT + k] = run.rows(stepTask, r()).lossSum;
    } else if (command === COMMAND.WORDS) {
      wordsTask.lo = args[partIndex(W, k)];
      wordsTask.hi = args[partIndex(W, k + 1)];
      args[ARGS.RESULT + k] = run.words(wordsTask, r());
    } else if (command === COMMAND.BACK) {
      run.back(stepTask, r());
    } else if (command === COMMAND.REDUCE) {
      args[ARGS.RESULT + k] = run.reduce(reduceTask);
    } else {
      updateTask.lr = args[ARGS.LR];
      run.update(updateTask);
    }
  };
}

/** A serve loop over the given rounds: returns when the engine rings EXIT, throws (after reporting) what a round throws. */
export function serveWith(handlers: Rounds): (task: ServeTask) => void {
  return (task) => {
    const control = new Int32Array(task.control);
    const k = task.step.slice, W = task.workers;
    const run = roundRunner(task, handlers);
    for (let seen = task.seq; ;) {
      const until = performance.now() + SPIN_MS;
      while (Atomics.load(control, CONTROL.SEQ) === seen) {
        if (performance.now() > until) Atomics.wait(control, CONTROL.SEQ, seen);
      }
      seen = Atomics.load(control, CONTROL.SEQ);
      const command = Atomics.load(control, CONTROL.COMMAND);
      if (command === COMMAND.EXIT) return;
      try {
        run(command);
      } catch (e) {
        Atomics.store(control, failedIndex(W, k), 1);
        throw e;
      } finally {
        Atomics.store(control, CONTROL.DONE + k, seen);
        Atomics.notify(control, CONTROL.DONE + k);
      }
    }
  };
}

/** The serve loop over this file's rounds. */
export const serve = serveWith(rounds);
