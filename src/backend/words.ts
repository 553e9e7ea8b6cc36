/**
 * Word counting for `rnnlm prepare` in TypeScript: the js backend's WordCounter, the same tokenisation as the
 * native one (native/words.cc) on one thread. Words are separated by white space as Python's str.split() knows it
 * (ASCII \t \n \v \f \r, 0x1c-0x1f and space; U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F,
 * U+3000), and every '\n' is an `<eos>` token. A word must be well-formed UTF-8.
 */
import * as fs from 'node:fs';
import type { WordCounter, WordCounts } from './types';
import * as v from './validate';

const ASCII_SPACE = new Uint8Array(128);
for (const c of [9, 10, 11, 12, 13, 28, 29, 30, 31, 32]) ASCII_SPACE[c] = 1;

/** The length of the non-ASCII white space at b[i] (within b[0, n)), or 0. */
export function wideSpace(b: Uint8Array, i: number, n: number): number {
  const left = n - i;
  switch (b[i]) {
    case 0xc2: return left >= 2 && (b[i + 1] === 0x85 || b[i + 1] === 0xa0) ? 2 : 0;
    case 0xe1: return left >= 3 && b[i + 1] === 0x9a && b[i + 2] === 0x80 ? 3 : 0;
    case 0xe2:
      if (left < 3) return 0;
      if (b[i + 1] === 0x80) {
        const c = b[i + 2];
        return (c >= 0x80 && c <= 0x8a) || c === 0xa8 || c === 0xa9 || c === 0xaf ? 3 : 0;
      }
      return b[i + 1] === 0x81 && b[i + 2] === 0x9f ? 3 : 0;
    case 0xe3: return left >= 3 && b[i + 1] === 0x80 && b[i + 2] === 0x80 ? 3 : 0;
    default: return 0;
  }
}

/** Whether b[start, end) is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
export function validUtf8(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let len: number, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return false;
    if (i + len > end || b[i + 1] < lo || b[i + 1] > hi) return false;
    for (let k = 2; k < len; k++) if (b[i + k] < 0x80 || b[i + k] > 0xbf) return false;
    i += len;
  }
  return true;
}

/** One table of words; provisional ids are its local ids (`<eos>` is 0). */
export class JsWordCounter implements WordCounter {
  private readonly ids = new Map<string, number>([['<eos>', 0]]);
  private readonly list: string[] = ['<eos>'];
  private counts: number[] = [0];
  private readonly decoder = new TextDecoder('utf-8');

  count(bytes: Uint8Array, length: number, last: boolean, ids: Int32Array): { consumed: number; tokens: number; bad: number } {
    v.dim('length', length);
    v.u8('bytes', bytes, length, 'length');
    v.bool('last', last);
    v.i32('ids', ids, length, 'length');
    const b = bytes, n = length;
    let i = 0, out = 0, bad = -1;
    while (i < n) {
      const c = b[i];
      if (c < 0x80) {
        if (ASCII_SPACE[c]) {
          if (c === 10) {
            ids[out++] = 0;
            this.counts[0]++;
          }
          i++;
          continue;
        }
      } else {
        const s = wideSpace(b, i, n);
        if (s > 0) {
          i += s;
          continue;
        }
      }
      const start = i;
      let wide = false;
      while (i < n) {
        const d = b[i];
        if (d < 0x80) {
          if (ASCII_SPACE[d]) break;
        } else {
          if (wideSpace(b, i, n) > 0) break;
          wide = true;
        }
        i++;
      }
      if (i === n && !last) {
        i = start;
        break;
      }
      if (wide && !validUtf8(b, start, i)) {
        bad = start;
        i = start;
        break;
      }
      const word = this.decoder.decode(b.subarray(start, i));
      let id = this.ids.get(word);
      if (id === undefined) {
        id = this.list.length;
        this.ids.set(word, id);
        this.list.push(word);
        this.counts.push(0);
      }
      this.counts[id]++;
      ids[out++] = id;
    }
    return { consumed: i, tokens: out, bad };
  }

  words(): WordCounts {
    return {
      words: [...this.list], counts: Float64Array.from(this.counts),
      byProvisional: Int32Array.from({ length: this.list.length }, (_, i) => i),
    };
  }
}

/** The initial lanes of a token file's checksum (src/data/dataset.ts IdsChecksum). */
export const CHECKSUM_START: readonly [number, number] = [0x811c9dc5, 0x9e3779b9];

/**
 * The checksum lanes [a, b] carried over `ids`: each lane steps h = (h + id) * P mod 2^32 with its own odd P, a
 * polynomial in the ids (order-sensitive, and a changed id always changes it), so that parts of a file can be
 * summed apart and joined (native/words.cc).
 */
export function checksumLanes(lanes: readonly [number, number], ids: Int32Array): [number, number] {
  let [a, b] = lanes;
  for (let i = 0; i < ids.length; i++) {
    const x = ids[i];
    a = Math.imul(a + x, 0x01000193);
    b = Math.imul(b + x, 0x85ebca77);
  }
  return [a >>> 0, b >>> 0];
}

/** The js backend's renumberFile: blocks of ids read, renumbered and written back. */
export function renumberFileJs(fd: number, offset: number, tokens: number, table: Int32Array): [number, number] {
  v.dim('fd', fd);
  for (const [name, x] of [['offset', offset], ['tokens', tokens]] as const) {
    if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`Expected integer in [0, 2^53) for ${name} but received ${x}`);
  }
  if (offset % 4 !== 0) throw new RangeError(`Expected a multiple of 4 for offset but received ${offset}`);
  v.i32('table', table, 0);
  const size = fs.fstatSync(fd).size;
  if (size < offset + 4 * tokens) {
    throw new RangeError(`Expected a file of at least offset + 4 * tokens = ${offset + 4 * tokens} bytes for fd but it has ${size}`);
  }
  let lanes: [number, number] = [...CHECKSUM_START];
  const block = new Int32Array(Math.min(1 << 20, Math.max(1, tokens)));
  const bytes = new Uint8Array(block.buffer);
  for (let start = 0; start < tokens; start += block.length) {
    const n = Math.min(block.length, tokens - start);
    const ids = block.subarray(0, n);
    for (let done = 0; done < n * 4;) done += fs.readSync(fd, bytes, done, n * 4 - done, offset + start * 4 + done);
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (!(id >= 0 && id < table.length)) throw new RangeError(`token ${start + i} has provisional id outside the table`);
      ids[i] = table[id];
    }
    lanes = checksumLanes(lanes, ids);
    for (let done = 0; done < n * 4;) done += fs.writeSync(fd, bytes, done, n * 4 - done, offset + start * 4 + done);
  }
  return lanes;
}
