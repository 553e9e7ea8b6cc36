/** The messages between the trainer (src/parallel/engine.ts) and its worker threads (src/parallel/worker.ts). */
import type { BackendName } from '../backend';
import type { ModelConfig } from '../model';

/** One slice of a batch: rows [row0, row1) of the [N, T] batch, forward and backward on a worker thread. */
export interface StepTask {
  /** Identifies the model and shapes; a worker keeps a replica per (runId, slice). */
  runId: string;
  slice: number;
  row0: number;
  row1: number;
  N: number;
  T: number;
  /** The model's configuration and seed: a replica is built from them. */
  config: ModelConfig;
  seed: number;
  /** The training iteration over the whole run: keys the dropout masks. */
  iteration: number;
  backend: BackendName;
  /** The flat parameters, Float32 [P], read-only for workers. */
  params: SharedArrayBuffer;
  /** This slice's gradient block, Float32 [P] at byte offset gradsOffset; no other slice writes it. */
  grads: SharedArrayBuffer;
  gradsOffset: number;
  /** Word ids and targets, Int32 [N, T]. */
  xs: SharedArrayBuffer;
  ts: SharedArrayBuffer;
  /** The recurrent state of every row, Float32 [S, N, H] (S state tensors): read before the forward, written after it. */
  state: SharedArrayBuffer;
  hasState: boolean;
  /** Positions with a target (not -1) in the whole batch: the loss is a mean over them. */
  countTotal: number;
}

export interface StepResult {
  /** The summed (not mean) cross-entropy over this slice's positions. */
  lossSum: number;
  count: number;
}
