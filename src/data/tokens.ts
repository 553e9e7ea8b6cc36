/**
 * Token ids as the trainer reads them: from an array in memory, or from a prepared token file on disk by offset
 * (docs/data-format.md), so that a corpus of any size costs the same memory.
 */
import * as fs from 'node:fs';

/** A corpus of token ids read by position. */
export interface TokenSource {
  readonly length: number;
  /** When set, every id is known to lie in [0, idLimit) (checked when the source was opened). */
  readonly idLimit?: number;
  /** Copies the ids at [start, start + out.length) into `out`. */
  read(start: number, out: Int32Array): void;
}

export function isTokenSource(x: unknown): x is TokenSource {
  return typeof x === 'object' && x !== null && !ArrayBuffer.isView(x) && typeof (x as TokenSource).read === 'function';
}

/** An array of ids as a TokenSource. */
export function arraySource(ids: Int32Array): TokenSource {
  return { length: ids.length, read: (start, out) => out.set(ids.subarray(start, start + out.length)) };
}

/** `source` as a TokenSource (arrays wrapped). */
export function tokenSource(source: Int32Array | TokenSource): TokenSource {
  return isTokenSource(source) ? source : arraySource(source);
}

/** The ids [start, start + length) of `source`. */
export function sliceSource(source: TokenSource, start: number, length: number): TokenSource {
  if (!(start >= 0 && length >= 0 && start + length <= source.length)) {
    throw new RangeError(`Expected a slice within the ${source.length} tokens but received [${start}, ${start + length})`);
  }
  return { length, idLimit: source.idLimit, read: (s, out) => source.read(start + s, out) };
}

/** `source` with every id replaced by remap[id] (a renumbering of its vocabulary). */
export function remapSource(source: TokenSource, remap: Int32Array): TokenSource {
  return {
    length: source.length,
    idLimit: source.idLimit !== undefined ? remap.length : undefined,
    read(start, out) {
      source.read(start, out);
      for (let i = 0; i < out.length; i++) out[i] = remap[out[i]];
    },
  };
}

/** The whole of a source in memory (for small corpora and tests). */
export function readAll(source: TokenSource): Int32Array {
  const out = new Int32Array(source.length);
  source.read(0, out);
  return out;
}

/** Visits a source in blocks of up to `block` ids, in order: fn(ids, start). */
export function forEachBlock(source: TokenSource, fn: (ids: Int32Array, start: number) => void, block = 1 << 20): void {
  const buf = new Int32Array(Math.max(1, Math.min(block, source.length)));
  for (let start = 0; start < source.length; start += buf.length) {
    const ids = buf.subarray(0, Math.min(buf.length, source.length - start));
    source.read(start, ids);
    fn(ids, start);
  }
}

/**
 * Checks that every id of `source` lies in [min, V) (min -1: targets, where -1 is ignored); the error names the
 * first that does not. A source whose ids were checked when it was opened (idLimit <= V) is not read again.
 */
export function checkIdRange(source: Int32Array | TokenSource, V: number, min = 0): void {
  if (isTokenSource(source) && source.idLimit !== undefined && source.idLimit <= V) return;
  const check = (ids: Int32Array, start: number): void => {
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i] >= min && ids[i] < V)) {
        throw new RangeError(`Token id ${ids[i]} at position ${start + i} is outside the model's vocabulary of ${V}`);
      }
    }
  };
  if (isTokenSource(source)) forEachBlock(source, check);
  else check(source, 0);
}

/**
 * Reads one sequence of positions of a source through a window of `size` ids, refilled when a position falls
 * outside it: a batch row that walks through its stretch of the corpus reads the file once per `size` tokens.
 */
export class Window {
  private readonly buf: Int32Array;
  private base = 0;
  private filled = 0;

  constructor(private readonly source: TokenSource, size = 4096) {
    this.buf = new Int32Array(Math.max(1, Math.min(size, source.length)));
  }

  at(j: number): number {
    const k = j - this.base;
    if (k >= 0 && k < this.filled) return this.buf[k];
    this.base = j;
    this.filled = Math.min(this.buf.length, this.source.length - j);
    this.source.read(j, this.buf.subarray(0, this.filled));
    return this.buf[0];
  }
}

/** Reads ids [start, start + out.length) of a file of little-endian int32 ids that begin at byte `offset`. */
export function readIds(fd: number, offset: number, start: number, out: Int32Array, file: string): void {
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  let done = 0;
  while (done < bytes.length) {
    const n = fs.readSync(fd, bytes, done, bytes.length - done, offset + start * 4 + done);
    if (n <= 0) throw new Error(`${file} ended early, at byte ${offset + start * 4 + done}`);
    done += n;
  }
}
