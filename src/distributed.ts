/**
 * Data-parallel training across processes (MPI ranks started by mpirun, on one machine or many). Every rank holds
 * the whole model and takes its rows of every batch (batchRows: the cut of the worker threads' slices); a step
 * runs those rows on the rank's own executor (serial or worker threads), then the ranks sum their gradients and
 * losses, each element in rank order, so that every rank holds the same sum, applies the same update and keeps the
 * same weights. The numbers are those of one process up to the order of float sums.
 *
 * What goes over the wire each step (MpiExecutor.traffic counts the bytes each rank sends):
 * - before the step, each rank's target count, stop request and input ids (8 bytes each): the whole batch's ids
 *   give every rank the rows the gradient can touch;
 * - after it, the dense part of the gradient (everything but the embedding), summed in place;
 * - the embedding gradient's touched rows only (at most N * T of the V rows) with the loss, packed and summed.
 * Each sum is a reduce-scatter then an allgather (native/mpi.cc): each rank sends and receives 2 (R - 1) / R times
 * the summed bytes; the exchange before the step sends a rank's R - 1 times to the others.
 *
 * MPI belongs to the process: only the main thread calls it. A rank that dies ends the job: mpirun stops every
 * other rank. A rank that stops answering makes the others' calls give up after mpiWorld's timeout, naming it.
 */
import { loadNativeBackend } from './backend/native';
import { batchRows, countTargets, type StepExecutor, type Traffic, type WholeBatch } from './executor';
import { checkRowShare, type Communicator } from './ranks';
import { GradientSupport } from './gradient';
import type { LanguageModel } from './model';
import type { ParamUpdate } from './optimizer';

/** Whether this process was started by Open MPI's mpirun (or a job script under it). */
export function launchedByMpi(env: { readonly [name: string]: string | undefined } = process.env): boolean {
  return env.OMPI_COMM_WORLD_SIZE !== undefined;
}

/**
 * MPI's world of ranks through the native addon, which starts MPI once per process and holds its state (every call
 * returns a view of the same world). A collective call that waits more than `timeoutS` seconds for the other ranks
 * throws, and MPI is not used again: the process should leave, and mpirun then ends the others. Throws with the
 * reason when the addon is not loaded or was built without MPI.
 */
export function mpiWorld(timeoutS = 60): Communicator {
  const addon = loadNativeBackend().addon;
  if (!addon) throw new Error('training across processes needs the native addon, which did not load');
  addon.mpiSetTimeout(timeoutS);
  const [rank, size] = addon.mpiInit();
  const world: Communicator = {
    rank, size, localSize: Math.max(1, Number(process.env.OMPI_COMM_WORLD_LOCAL_SIZE) || 1),
    localRank: Number(process.env.OMPI_COMM_WORLD_LOCAL_RANK) || 0,
    allgather: (send, recv) => addon.mpiAllgather(send, recv),
    sumOrdered: (data) => addon.mpiSumOrdered(data),
    stepExecutor: (model, N, T, local) => new MpiExecutor(model, N, T, world, local),
  };
  return world;
}

/** Ends MPI for the process when it was started (after the last collective call); nothing otherwise. */
export function mpiFinalize(): void {
  loadNativeBackend().addon?.mpiFinalize();
}

/**
 * The step executor of one rank: `local` (over the rank's rows, its row 0 standing for batch row `rows[0]`) runs
 * the step, then the gradient and the loss are summed over the ranks. The model's recurrent state holds the rank's
 * rows while training; syncModel gathers every rank's into the model (all ranks call it at the same point).
 */
export { checkSameOnRanks, checksum, machineFirst, processShare, rankCores, type Communicator } from './ranks';

export class MpiExecutor implements StepExecutor {
  readonly rows: [number, number];
  readonly traffic: Traffic = { steps: 0, bytes: 0, ms: 0 };
  /** Rows per rank at most: the header's fixed size (allgather sends the same length from every rank). */
  private readonly maxRows: number;
  private readonly header: Float64Array;
  private readonly gathered: Float64Array;
  private readonly whole: WholeBatch;
  /** The rows the step's gradient can touch (the whole batch's ids) and the dense rest. */
  private readonly support: GradientSupport;
  /** The touched embedding rows, packed, then the loss: [rowCount * D + 1]. */
  private readonly packed: Float32Array;
  /** The dense part of the model's gradient, summed in place. */
  private readonly dense: Float32Array;
  private sumSquares = 0;
  /** Set by syncModel: the model holds every rank's rows, and steps need the rank's own back. */
  private holdsWhole = false;
  private readonly local: StepExecutor;

  constructor(private readonly model: LanguageModel, readonly N: number, readonly T: number, private readonly comm: Communicator,
    makeLocal: (rows: number, rowOffset: number) => StepExecutor) {
    checkRowShare(N, 1, comm);
    this.rows = batchRows(N, comm.rank, comm.size);
    this.maxRows = Math.ceil(N / comm.size);
    this.header = new Float64Array(2 + this.maxRows * T);
    this.gathered = new Float64Array(comm.size * this.header.length);
    this.whole = { count: 0, ids: new Int32Array(N * T) };
    this.support = new GradientSupport(model);
    this.packed = new Float32Array(Math.min(this.support.V, N * T) * this.support.D + 1);
    this.dense = model.flatGrads.subarray(this.support.denseFrom);
    this.takeOwnRows();
    this.local = makeLocal(this.rows[1] - this.rows[0], this.rows[0]);
  }

  get workers(): number {
    return this.local.workers;
  }

  /**
   * Exchanges each rank's target count, stop request and input ids: every rank learns the whole batch (its count
   * and ids) and whether any rank asks to stop.
   */
  async prepare(xs: Int32Array, ts: Int32Array, stop: boolean): Promise<boolean> {
    const start = performance.now();
    const h = this.header, L = h.length;
    h[0] = countTargets(ts);
    h[1] = stop ? 1 : 0;
    for (let i = 0; i < xs.length; i++) h[2 + i] = xs[i];
    this.comm.allgather(h, this.gathered);
    const g = this.gathered, ids = this.whole.ids;
    let count = 0, anyStop = false, at = 0;
    for (let k = 0; k < this.comm.size; k++) {
      count += g[k * L];
      anyStop ||= g[k * L + 1] !== 0;
      const [r0, r1] = batchRows(this.N, k, this.comm.size);
      for (let i = 0; i < (r1 - r0) * this.T; i++) ids[at++] = g[k * L + 2 + i];
    }
    this.whole.count = count;
    this.support.setIds(this.whole.ids);
    this.account((this.comm.size - 1) * L * 8, start);
    return anyStop;
  }

  async forwardBackward(xs: Int32Array, ts: Int32Array, iteration: number, where: string): Promise<number> {
    if (this.holdsWhole) this.takeOwnRows();
    const part = await this.local.forwardBackward(xs, ts, iteration, where, this.whole);
    const start = performance.now();
    this.traffic.steps++;
    const backend = this.model.backend, dense = this.dense;
    const packed = this.packRows(part);
    const summedFloats = dense.length + packed.length;
    if (dense.length > 0) this.comm.sumOrdered(dense);
    this.comm.sumOrdered(packed);
    this.unpackRows(packed);
    this.sumSquares = backend.sumSquares(dense) + backend.sumSquares(packed.subarray(0, packed.length - 1));
    this.account((summedFloats * 4 * 2 * (this.comm.size - 1)) / this.comm.size, start);
    return packed[packed.length - 1];
  }

  gradSumSquares(): number {
    return this.sumSquares;
  }

  /** The update is the local executor's over the whole batch's rows: every rank holds the same sum and applies it alike. */
  applyUpdate(update: ParamUpdate, where: string): Promise<void> {
    return this.local.applyUpdate(update, where);
  }

  /** Gathers every rank's rows of the recurrent state into the model (each rank's model holds the whole batch's). */
  async syncModel(): Promise<void> {
    await this.local.syncModel();
    const own = this.model.getState();
    if (own === null || this.holdsWhole) return;
    const H = this.model.hiddenSize, S = own.length, R = this.comm.size, slot = this.maxRows * H;
    const send = new Float64Array(S * slot), recv = new Float64Array(R * S * slot);
    own.forEach((s, k) => send.set(s, k * slot));
    this.comm.allgather(send, recv);
    const whole = own.map(() => new Float32Array(this.N * H));
    for (let r = 0; r < R; r++) {
      const [r0, r1] = batchRows(this.N, r, R);
      whole.forEach((w, k) => w.set(recv.subarray((r * S + k) * slot, (r * S + k) * slot + (r1 - r0) * H), r0 * H));
    }
    this.model.setState(whole);
    this.holdsWhole = true;
  }

  close(): Promise<void> {
    return this.local.close();
  }

  /** When the model holds the whole batch's state (a resumed run, or after syncModel): keep this rank's rows. */
  private takeOwnRows(): void {
    const state = this.model.getState(), H = this.model.hiddenSize, [r0, r1] = this.rows;
    if (state !== null && state[0].length === this.N * H) this.model.setState(state.map((s) => s.slice(r0 * H, r1 * H)));
    this.holdsWhole = false;
  }

  /** The touched embedding rows of the gradient, in support order, then the loss part: the summed buffer. */
  private packRows(loss: number): Float32Array {
    const { rows, rowCount, D } = this.support, g = this.model.flatGrads;
    const packed = this.packed.subarray(0, rowCount * D + 1);
    for (let i = 0; i < rowCount; i++) {
      for (let j = 0, from = rows[i] * D, to = i * D; j < D; j++) packed[to + j] = g[from + j];
    }
    packed[rowCount * D] = loss; // summed as a float32: the loss to 7 digits
    return packed;
  }

  private unpackRows(packed: Float32Array): void {
    const { rows, rowCount, D } = this.support, g = this.model.flatGrads;
    for (let i = 0; i < rowCount; i++) {
      for (let j = 0, to = rows[i] * D, from = i * D; j < D; j++) g[to + j] = packed[from + j];
    }
  }

  private account(bytes: number, start: number): void {
    this.traffic.bytes += bytes;
    this.traffic.ms += performance.now() - start;
  }
}
