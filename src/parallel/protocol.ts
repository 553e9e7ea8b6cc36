/** The messages between the trainer (src/parallel/engine.ts) and its worker threads (src/parallel/worker.ts). */
import type { BackendName, Precision } from '../backend';
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
  precision: Precision;
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
  /** Zero the gradient block before the backward (false when the last reduce or update left it zero). */
  zeroGrads: boolean;
  /** Positions with a target (not -1) in the whole batch: the loss is a mean over them. */
  countTotal: number;
}

export interface StepResult {
  /** The summed (not mean) cross-entropy over this slice's positions. */
  lossSum: number;
  count: number;
}

/** A view of Float32 [length] at a byte offset of a shared buffer. */
export interface SharedF32 {
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
}

/**
 * A worker's share of the gradient's support (GradientSupport): the dense parameters [from, to) and the sparse
 * rows rows[rowFrom..rowTo) of the first V*D floats (rows of D floats).
 */
export interface SupportPart {
  from: number;
  to: number;
  rows: SharedArrayBuffer;
  rowFrom: number;
  rowTo: number;
  V: number;
  D: number;
}

/**
 * A part of the gradient blocks (block 0 is the model's flatGrads): add blocks 1.. into block 0 in block order,
 * zeroing them, and return the sum of squares of the result over the part.
 */
export interface ReduceTask {
  backend: BackendName;
  blocks: SharedF32[];
  part: SupportPart;
}

/** A part of the parameters: params -= lr * grads (SGD with the clipping factor folded into lr), then grads = 0. */
export interface UpdateTask {
  backend: BackendName;
  params: SharedF32;
  grads: SharedF32;
  lr: number;
  part: SupportPart;
}
