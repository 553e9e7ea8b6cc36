/**
 * The piscina worker: one file, loaded once per thread. Its task is `serve` (`run(task, { name: 'serve' })`): a
 * loop that holds the thread for the engine's lifetime and runs the rounds the engine rings for in shared memory
 * (see protocol.ts); `step`, `reduce` and `update` are the rounds, which the engine's own thread runs for slice 0
 * through the same roundRunner. A thread keeps a model replica per batch slice whose parameters are views on the
 * trainer's shared parameter buffer (no copies) and whose gradients go to that slice's shared gradient block. The
 * recurrent state of the slice's rows lives in shared memory too, so any thread can run any slice and row i's
 * state continues only with row i. The replica is built from the task's model config: this file names no cell.
 */
import { resolveBackend } from '../backend';
import { addSumSquaresOver, sgdUpdateOver, sumSquaresOver, type SupportSpan } from '../gradient';
import { LanguageModel } from '../model';
import {
  ARGS, COMMAND, CONTROL, failedIndex, rowRun,
  type ReduceTask, type ServeTask, type SharedF32, type StepResult, type StepTask, type SupportPart, type UpdateTask,
} from './protocol';

interface Replica {
  model: LanguageModel;
  /** This slice's rows of every state tensor, views on the shared state. */
  state: Float32Array[];
}

const replicas = new Map<string, Replica>();
let currentRun = '';

function replica(task: StepTask): Replica {
  if (task.runId !== currentRun) {
    replicas.clear();
    currentRun = task.runId;
  }
  const key = String(task.slice);
  let r = replicas.get(key);
  if (!r) {
    const params = new Float32Array(task.params);
    const P = params.length;
    const grads = new Float32Array(task.grads, task.gradsOffset, P);
    const backend = resolveBackend(task.backend, task.precision);
    const model = new LanguageModel(task.config, { backend, seed: task.seed, buffers: { params, grads } });
    const NH = task.N * task.config.hiddenSize, H = task.config.hiddenSize;
    const state = model.stateNames.map((_, k) => new Float32Array(task.state, (k * NH + task.row0 * H) * 4, (task.row1 - task.row0) * H));
    r = { model, state };
    replicas.set(key, r);
  }
  return r;
}

/** Drops this run's replicas (the engine's own thread keeps one for slice 0 until the run closes). */
export function forget(runId: string): void {
  if (runId === currentRun) {
    replicas.clear();
    currentRun = '';
  }
}

/** Forward and backward of rows [row0, row1): gradients scaled so that the slices sum to the batch gradient. */
export function step(task: StepTask): StepResult {
  const { row0, row1, T } = task;
  const n = row1 - row0;
  const { model, state } = replica(task);
  const xs = new Int32Array(task.xs, row0 * T * 4, n * T);
  const ts = new Int32Array(task.ts, row0 * T * 4, n * T);
  if (task.hasState) model.setState(state);
  else model.resetState();
  if (task.zeroGrads) model.zeroGrads();
  let count = 0;
  for (let i = 0; i < ts.length; i++) if (ts[i] !== -1) count++;
  const dout = task.countTotal === 0 ? 0 : count / task.countTotal;
  const loss = model.forward(xs, ts, n, T, { iteration: task.iteration, row0, dout });
  model.backward(dout);
  model.getState()!.forEach((s, k) => state[k].set(s));
  return { lossSum: loss * count, count };
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
  // sum += block k, block k = 0; the last addition also sums the squares of the result.
  for (let k = 1; k < last; k++) sgdUpdateOver(backend, sum, view(task.blocks[k]), -1, true, part);
  return addSumSquaresOver(backend, sum, view(task.blocks[last]), true, part);
}

/** SGD on this part of the parameters, leaving the gradient zero for the next backward. */
export function update(task: UpdateTask): void {
  sgdUpdateOver(resolveBackend(task.backend), view(task.params), view(task.grads), task.lr, true, span(task.part));
}

/** The rounds a serve loop runs (the real ones, or a test's wrappers that inject failures). */
export interface Rounds {
  step(task: StepTask): StepResult;
  reduce(task: ReduceTask): number;
  update(task: UpdateTask): void;
}

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
export function roundRunner(task: ServeTask, rounds: Rounds = { step, reduce, update }): (command: number) => void {
  const args = new Float64Array(task.args);
  const k = task.step.slice, W = task.workers;
  const stepTask: StepTask = { ...task.step, iteration: 0, hasState: false, zeroGrads: true, countTotal: 0 };
  const part: SupportPart = { from: task.from, to: task.to, rows: task.rows, rowFrom: 0, rowTo: 0, V: task.V, D: task.D };
  const reduceTask: ReduceTask = { backend: task.step.backend, blocks: task.blocks, part };
  const updateTask: UpdateTask = { backend: task.step.backend, params: task.params, grads: task.grads, lr: 0, part };
  return (command) => {
    [part.rowFrom, part.rowTo] = rowRun(args[ARGS.ROW_COUNT], k, W);
    if (command === COMMAND.STEP) {
      stepTask.iteration = args[ARGS.ITERATION];
      stepTask.hasState = args[ARGS.HAS_STATE] !== 0;
      stepTask.zeroGrads = args[ARGS.ZERO_GRADS] !== 0;
      stepTask.countTotal = args[ARGS.COUNT_TOTAL];
      args[ARGS.RESULT + k] = rounds.step(stepTask).lossSum;
    } else if (command === COMMAND.REDUCE) {
      args[ARGS.RESULT + k] = rounds.reduce(reduceTask);
    } else {
      updateTask.lr = args[ARGS.LR];
      rounds.update(updateTask);
    }
  };
}

/** A serve loop over the given rounds: returns when the engine rings EXIT, throws (after reporting) what a round throws. */
export function serveWith(rounds: Rounds): (task: ServeTask) => void {
  return (task) => {
    const control = new Int32Array(task.control);
    const k = task.step.slice, W = task.workers;
    const run = roundRunner(task, rounds);
    for (let seen = task.seq; ;) {
      const until = performance.now() + SPIN_MS;
      while (Atomics.load(control, CONTROL.SEQ) === seen) {
        if (performance.now() > until) Atomics.wait(control, CONTROL.SEQ, seen);
      }
      seen = Atomics.load(control, CONTROL.SEQ);
      const command = Atomics.load(control, CONTROL.COMMAND);
      if (command === COMMAND.EXIT) {
        forget(task.step.runId);
        return;
      }
      try {
        run(command);
      } catch (e) {
        Atomics.store(control, failedIndex(W, k), 1);
        forget(task.step.runId);
        throw e;
      } finally {
        Atomics.store(control, CONTROL.DONE + k, seen);
        Atomics.notify(control, CONTROL.DONE + k);
      }
    }
  };
}

/** The serve loop over this file's rounds. */
export const serve = serveWith({ step, reduce, update });
