/**
 * The ranks of a run, as the trainer sees them: the interface a process group offers (the MPI world of
 * distributed.ts, or a test's stand-in) and what follows from it alone: which rows and cores a rank takes, that
 * every rank starts the same run, sums in rank order. Nothing here calls MPI.
 */
import * as os from 'node:os';
import { batchRows, type StepExecutor } from './executor';
import type { LanguageModel } from './model';

/** The ranks of a run and the two collective operations training needs. */
export interface Communicator {
  readonly rank: number;
  readonly size: number;
  /** Ranks on this machine, which share its cores and its files, and this rank's number among them. */
  readonly localSize: number;
  readonly localRank: number;
  /** Every rank's `send` into recv (size * send.length floats), in rank order. */
  allgather(send: Float64Array, recv: Float64Array): void;
  /** data summed over the ranks in place, each element added in rank order: the same bits on every rank. */
  sumOrdered(data: Float32Array): void;
  /**
   * This rank's executor of a fit on N x T batches: `local` (over the rank's rows, its row 0 standing for batch row
   * `rowOffset`) runs the step, and the group sums the gradient and loss over the ranks.
   */
  stepExecutor(model: LanguageModel, N: number, T: number, local: (rows: number, rowOffset: number) => StepExecutor): StepExecutor;
}

/**
 * Checks that every rank holds the same values (numbers: shapes, lengths, checksums): a run whose ranks disagree
 * would train on different data or weights, or wait forever for a rank that has finished. Throws on every rank,
 * naming the first value that differs and the rank that holds another one.
 */
export function checkSameOnRanks(comm: Communicator, values: Record<string, number>, advice: string): void {
  const names = Object.keys(values);
  const mine = Float64Array.from(names, (n) => values[n]);
  const all = new Float64Array(comm.size * names.length);
  comm.allgather(mine, all);
  for (let r = 1; r < comm.size; r++) {
    names.forEach((name, i) => {
      const theirs = all[r * names.length + i], first = all[i];
      if (!Object.is(theirs, first)) throw new RangeError(`rank ${r} has ${name} ${theirs} but rank 0 has ${first}: ${advice}`);
    });
  }
}

/**
 * Runs `fn` on the first rank of each machine, then on the others: what it writes to the machine's files (a
 * prepared dataset in the cache, a downloaded corpus) is there when the others run it, instead of every rank
 * writing it at once. Every rank calls it.
 */
export async function machineFirst<T>(comm: Communicator, fn: () => Promise<T>): Promise<T> {
  const barrier = (): void => comm.allgather(new Float64Array(1), new Float64Array(comm.size));
  if (comm.localRank !== 0) barrier();
  const result = await fn();
  if (comm.localRank === 0) barrier();
  return result;
}

/** A 32-bit checksum of the floats' bits (the same weights give the same number on every machine). */
export function checksum(a: Float32Array): number {
  const bits = new Int32Array(a.buffer, a.byteOffset, a.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < bits.length; i++) h = Math.imul(h ^ bits[i], 0x01000193);
  return h >>> 0;
}

/**
 * The cores a rank may use: those mpirun bound it to (--bind-to core or socket), or when it is not bound, the
 * machine's shared among the ranks on it.
 */
export function rankCores(comm: Communicator): number {
  const usable = os.availableParallelism();
  return usable < os.cpus().length ? usable : Math.max(1, Math.floor(usable / comm.localSize));
}

/**
 * What this process trains of an N-row batch: its rows and the cores it may use (with ranks, batchRows and
 * rankCores; without, all of both). fit plans its workers by it, and the CLI says so in its first line.
 */
export function processShare(N: number, ranks?: Communicator): { rows: [number, number]; cores: number } {
  return ranks ? { rows: batchRows(N, ranks.rank, ranks.size), cores: rankCores(ranks) } : { rows: [0, N], cores: os.availableParallelism() };
}

/** x summed over the ranks in rank order (the same double on every rank). */
export function sumOverRanks(ranks: Communicator, x: number): number {
  const all = new Float64Array(ranks.size);
  ranks.allgather(Float64Array.of(x), all);
  return all.reduce((a, b) => a + b, 0);
}

/**
 * The one check of a batch's rows against the processes and worker threads that split it: every rank needs a row
 * and every worker a row of its rank's. `name` says how the caller calls the batch size and the workers (the CLI:
 * its flags). Throws a RangeError saying which falls short.
 */
export function checkRowShare(N: number, workers: number, ranks?: { rank: number; size: number }, name: (key: 'batchSize' | 'workers') => string = (k) => k): void {
  if (ranks && ranks.size > N) throw new RangeError(`${name('batchSize')} ${N} has fewer rows than the ${ranks.size} ranks: each rank needs a batch row`);
  const [r0, r1] = ranks ? batchRows(N, ranks.rank, ranks.size) : [0, N];
  if (workers > r1 - r0) {
    throw new RangeError(ranks
      ? `${name('workers')} ${workers} exceeds the ${r1 - r0} rows of ${name('batchSize')} ${N} that rank ${ranks.rank} of ${ranks.size} takes: each worker needs a batch row`
      : `${name('workers')} ${workers} exceeds ${name('batchSize')} ${N}: each worker needs a batch row`);
  }
}
