/**
 * The piscina worker: one file, loaded once per thread, with named handlers (`run(task, { name: 'step' })`).
 * A thread keeps a model replica per batch slice whose parameters are views on the trainer's shared parameter
 * buffer (no copies) and whose gradients go to that slice's shared gradient block. The hidden state of the slice's
 * rows lives in shared memory too, so any thread can run any slice and row i's state continues only with row i.
 */
import { SimpleRnnlm } from '../model';
import type { StepResult, StepTask } from './protocol';

const replicas = new Map<string, SimpleRnnlm>();
let currentRun = '';

function replica(task: StepTask): SimpleRnnlm {
  if (task.runId !== currentRun) {
    replicas.clear();
    currentRun = task.runId;
  }
  const key = String(task.slice);
  let model = replicas.get(key);
  if (!model) {
    const params = new Float32Array(task.params);
    const P = params.length;
    const grads = new Float32Array(task.grads, task.gradsOffset, P);
    model = new SimpleRnnlm(task.V, task.D, task.H, { backend: task.backend, buffers: { params, grads } });
    replicas.set(key, model);
  }
  return model;
}

/** Forward and backward of rows [row0, row1): gradients scaled so that the slices sum to the batch gradient. */
export function step(task: StepTask): StepResult {
  const { row0, row1, T, H } = task;
  const n = row1 - row0;
  const model = replica(task);
  const xs = new Int32Array(task.xs, row0 * T * 4, n * T);
  const ts = new Int32Array(task.ts, row0 * T * 4, n * T);
  const state = new Float32Array(task.state, row0 * H * 4, n * H);
  if (task.hasState) model.rnn.setState(state);
  else model.resetState();
  const loss = model.forward(xs, ts, n, T);
  let count = 0;
  for (let i = 0; i < ts.length; i++) if (ts[i] !== -1) count++;
  model.backward(task.countTotal === 0 ? 0 : count / task.countTotal);
  state.set(model.rnn.h!);
  return { lossSum: loss * count, count };
}

