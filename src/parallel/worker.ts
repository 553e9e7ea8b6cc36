/**
 * The piscina worker: one file, loaded once per thread, with named handlers (`run(task, { name: 'step' })`).
 * A thread keeps a model replica per batch slice whose parameters are views on the trainer's shared parameter
 * buffer (no copies) and whose gradients go to that slice's shared gradient block. The recurrent state of the
 * slice's rows lives in shared memory too, so any thread can run any slice and row i's state continues only with
 * row i. The replica is built from the task's model config: this file names no cell.
 */
import { resolveBackend } from '../backend';
import { LanguageModel } from '../model';
import type { ReduceTask, SharedF32, StepResult, StepTask, UpdateTask } from './protocol';

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
    const model = new LanguageModel(task.config, { backend: task.backend, seed: task.seed, buffers: { params, grads } });
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
  const loss = model.forward(xs, ts, n, T, { iteration: task.iteration, row0 });
  let count = 0;
  for (let i = 0; i < ts.length; i++) if (ts[i] !== -1) count++;
  model.backward(task.countTotal === 0 ? 0 : count / task.countTotal);
  model.getState()!.forEach((s, k) => state[k].set(s));
  return { lossSum: loss * count, count };
}

/** Elements [from, to) of a shared Float32 array. */
function range(a: SharedF32, from: number, to: number): Float32Array {
  if (!(from >= 0 && from <= to && to <= a.length)) throw new RangeError(`range ${from}..${to} outside 0..${a.length}`);
  return new Float32Array(a.buffer, a.byteOffset + from * 4, to - from);
}

/**
 * This range of the gradient blocks summed into block 0, in block order, leaving blocks 1.. zero for the next
 * backward; returns the sum of squares of the sum.
 */
export function reduce(task: ReduceTask): number {
  const backend = resolveBackend(task.backend);
  const sum = range(task.blocks[0], task.from, task.to);
  if (task.blocks.length === 1) return backend.sumSquares(sum);
  for (let k = 1; k < task.blocks.length - 1; k++) {
    backend.sgdUpdate(sum, range(task.blocks[k], task.from, task.to), -1, true); // sum += block k; block k = 0
  }
  return backend.addSumSquares(sum, range(task.blocks[task.blocks.length - 1], task.from, task.to), true);
}

/** SGD on this range of the parameters, leaving the gradient zero for the next backward. */
export function update(task: UpdateTask): void {
  resolveBackend(task.backend).sgdUpdate(range(task.params, task.from, task.to), range(task.grads, task.from, task.to), task.lr, true);
}
