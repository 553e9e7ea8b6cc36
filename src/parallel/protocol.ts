/**
 * What the trainer (src/parallel/engine.ts) and its worker threads (src/parallel/worker.ts) share. Each pool thread
 * runs one long task, `serve`, for the engine's lifetime: it gets its slice's buffers once (ServeTask) and then
 * runs a round (step, reduce or update) whenever the engine rings the doorbell in shared memory, with the round's
 * numbers in shared memory too; no message per round, no task to clone, no pool dispatch.
 */
import type { BackendName, Precision } from '../backend';
import type { ModelConfig } from '../model';

/** One slice of a batch: rows [row0, row1) of the [N, T] batch, forward and backward on a worker thread. */
export interface StepTask {
  slice: number;
  row0: number;
  row1: number;
  /** The batch row that row 0 stands for (a process's part of a larger batch): the dropout masks' row is rowOffset + row. */
  rowOffset: number;
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
  /**
   * For models that split the output's work by words (OutputHead.split): the output layer's input of every
   * row, h [N,T,H], and its gradient, dh [N,T,H] (Float32), and the model's own gradient (block 0), where every
   * slice's words part writes its words. Absent otherwise.
   */
  split?: { hidden: SharedArrayBuffer; dhidden: SharedArrayBuffer; grads: SharedArrayBuffer; gradsOffset: number };
  /** Positions with a target (not -1) in the whole batch: the loss is a mean over them. */
  countTotal: number;
}

/** A WORDS round: the output's words of part [lo, hi) over every row of the batch (OutputHead.split.words). */
export interface WordsTask {
  step: StepTask;
  lo: number;
  hi: number;
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
 * zeroing them, and return the sum of squares of the result over the part. Blocks 1.. are zero in `skip` (a split
 * head's split.gradRange, written in block 0 only), which is only squared.
 */
export interface ReduceTask {
  backend: BackendName;
  blocks: SharedF32[];
  part: SupportPart;
  skip?: [number, number];
}

/** A part of the parameters: params -= lr * grads (SGD with the clipping factor folded into lr), then grads = 0. */
export interface UpdateTask {
  backend: BackendName;
  params: SharedF32;
  grads: SharedF32;
  lr: number;
  part: SupportPart;
}

/**
 * The doorbell, Int32 [CONTROL_SIZE(workers)]: the engine writes a round's numbers into the arguments, then the
 * command, then increments SEQ and notifies it; worker k runs the round and stores SEQ's value in DONE + k (after
 * setting FAILED + k when it threw) and notifies that. EXIT ends the serve loops.
 */
export const CONTROL = { SEQ: 0, COMMAND: 1, DONE: 2 } as const;
/**
 * STEP is a slice's forward and backward. A model that splits its output by words (OutputHead.split)
 * steps in three rounds instead: ROWS (its slice to the output layer, and the output's per-row part), WORDS (the
 * output's words of its part, over every row) and BACK (its slice's backward from there).
 */
export const COMMAND = { STEP: 0, REDUCE: 1, UPDATE: 2, EXIT: 3, ROWS: 4, WORDS: 5, BACK: 6 } as const;
export function controlSize(workers: number): number {
  return CONTROL.DONE + 2 * workers;
}
export function failedIndex(workers: number, k: number): number {
  return CONTROL.DONE + workers + k;
}

/**
 * A round's numbers, Float64 [ARGS_SIZE(workers)]: the step's (iteration, hasState, zeroGrads, countTotal), the
 * update's learning rate, the sparse row count, then per worker its result (the slice's loss sum, or its part's
 * sum of squares), then the bounds of the workers' parts of the output's words (WORDS; workers + 1 of them).
 */
export const ARGS = { ITERATION: 0, HAS_STATE: 1, ZERO_GRADS: 2, COUNT_TOTAL: 3, LR: 4, ROW_COUNT: 5, RESULT: 6 } as const;
export function argsSize(workers: number): number {
  return ARGS.RESULT + 2 * workers + 1;
}
/** Where bound k (0..workers) of the words' parts is in the arguments. */
export function partIndex(workers: number, k: number): number {
  return ARGS.RESULT + workers + k;
}

/** What a serve loop gets once: its slice, the shared buffers, its part of the parameters and the doorbell. */
export interface ServeTask {
  /** The step's fixed fields; iteration, hasState, zeroGrads and countTotal come with each round. */
  step: Omit<StepTask, 'iteration' | 'hasState' | 'zeroGrads' | 'countTotal'>;
  workers: number;
  /** The gradient blocks (block 0 is the model's flatGrads), the parameters and the gradient. */
  blocks: SharedF32[];
  params: SharedF32;
  grads: SharedF32;
  /** This worker's dense range of the parameters; its run of sparse rows follows from each round's row count. */
  from: number;
  to: number;
  /** Where the gradient blocks 1.. stay zero (ReduceTask.skip). */
  skip?: [number, number];
  rows: SharedArrayBuffer;
  V: number;
  D: number;
  control: SharedArrayBuffer;
  args: SharedArrayBuffer;
  /** SEQ when the loop was started: the first round is the next value. */
  seq: number;
}

/** Worker k's run of the sparse rows when the step's support has `rowCount` of them. */
export function rowRun(rowCount: number, k: number, workers: number): [number, number] {
  return [Math.floor((rowCount * k) / workers), Math.floor((rowCount * (k + 1)) / workers)];
}
