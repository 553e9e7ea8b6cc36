/**
 * `rnnlm prepare`: text files -> a vocabulary and token files (./dataset.ts), streaming, in memory bounded by the
 * vocabulary. Each text is read once in chunks that the backend's WordCounter tokenises (on two threads natively)
 * into provisional ids, written where the token file's ids will be; once the words are counted, the vocabulary is
 * chosen and the provisional ids are renumbered in place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { AtomicFile, writeFileAtomic } from '../atomic';
import type { Backend, WordCounter, WordCounts } from '../backend';
import {
  DATASET_FORMAT, DATASET_VERSION, encodeHeader, formatVocabulary, HEADER_BYTES, IdsChecksum, MANIFEST, readVocabulary, UNK,
  VOCAB_FILE, vocabularyChecksum, type Manifest, type Split, type Vocabulary,
} from './dataset';
import { DataError, EOS } from './ptb';

export interface PrepareOptions {
  /** Training texts: files, folders (every file below, in name order) or '-' for standard input; gzip is read as text. */
  train: string[];
  valid?: string[];
  test?: string[];
  /** The dataset folder (made when missing). */
  out: string;
  /** Keep at most this many entries (`<eos>` and `<unk>` among them). */
  vocabSize?: number;
  /** Drop words seen fewer times. */
  minCount?: number;
  /** Number the texts with this vocabulary file instead of making one. */
  vocab?: string;
  backend: Backend;
  /** Progress: bytes read so far of `total` (undefined when unknown, as for standard input). */
  onProgress?: (p: { split: Split; bytes: number; total?: number; tokens: number }) => void;
  /** Bytes per chunk handed to the WordCounter. */
  chunkBytes?: number;
}

export interface PrepareResult {
  vocabSize: number;
  splits: Partial<Record<Split, { tokens: number; unknown: number; bytes: number }>>;
}

const CHUNK_BYTES = 8 << 20;

/** Something to read bytes from: a file, standard input, or either through gunzip. */
interface Input {
  name: string;
  /** Bytes on disk, when known. */
  size?: number;
  open(): AsyncIterable<Buffer> | number;
}

/** The files behind the names: a folder stands for every file below it (hidden ones left out), in name order. */
export function expandInputs(names: string[]): Input[] {
  const inputs: Input[] = [];
  const add = (file: string): void => {
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      throw new DataError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    if (st.isDirectory()) {
      const names = fs.readdirSync(file).filter((n) => !n.startsWith('.')).sort();
      for (const n of names) add(path.join(file, n));
    } else {
      inputs.push({ name: file, size: st.size, open: () => openFile(file) });
    }
  };
  for (const name of names) {
    if (name === '-') inputs.push({ name: 'standard input', open: () => process.stdin });
    else add(name);
  }
  if (inputs.length === 0) throw new DataError(`no text files in ${names.join(', ')}`);
  return inputs;
}

function openFile(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (e) {
    throw new DataError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Reads an input as a sequence of byte blocks into `buf` at `offset`: `read` resolves to the bytes read (0 at the
 * end). A gzip stream (by its magic bytes) is decompressed; `raw()` counts the bytes taken from the disk or pipe.
 */
async function reader(input: Input): Promise<{ read(buf: Buffer, offset: number, length: number): Promise<number>; raw(): number; close(): void }> {
  const src = input.open();
  let raw = 0;
  let stream: AsyncIterable<Buffer>;
  if (typeof src === 'number') {
    const magic = Buffer.alloc(2);
    const got = fs.readSync(src, magic, 0, 2, 0);
    if (!(got === 2 && magic[0] === 0x1f && magic[1] === 0x8b)) {
      return {
        read: async (buf, offset, length) => {
          const n = fs.readSync(src, buf, offset, length, null);
          raw += n;
          return n;
        },
        raw: () => raw,
        close: () => fs.closeSync(src),
      };
    }
    const file = fs.createReadStream('', { fd: src, highWaterMark: 1 << 20 });
    file.on('data', (b: string | Buffer) => { raw += b.length; });
    stream = file.pipe(zlib.createGunzip());
  } else {
    // Standard input: gzip when its first bytes say so.
    const it = src[Symbol.asyncIterator]();
    const first = await it.next();
    const head: Buffer = first.done ? Buffer.alloc(0) : first.value;
    const counted = (async function* () {
      raw += head.length;
      yield head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        raw += r.value.length;
        yield r.value;
      }
    })();
    stream = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b ? Readable.from(counted).pipe(zlib.createGunzip()) : counted;
  }
  const it = stream[Symbol.asyncIterator]();
  let rest: Buffer = Buffer.alloc(0);
  return {
    async read(buf, offset, length) {
      if (rest.length === 0) {
        let r: IteratorResult<Buffer>;
        try {
          r = await it.next();
        } catch (e) {
          throw new DataError(`${input.name}: ${(e as NodeJS.ErrnoException).code === 'Z_DATA_ERROR' || (e as Error).message.includes('header') ? 'not valid gzip data' : 'unreadable'} (${(e as Error).message})`);
        }
        if (r.done) return 0;
        rest = r.value;
      }
      const n = Math.min(length, rest.length);
      rest.copy(buf, offset, 0, n);
      rest = rest.subarray(n);
      return n;
    },
    raw: () => raw,
    close: () => undefined,
  };
}

/** A split's text counted into provisional ids, in the token file still being written. */
interface Counted {
  words: WordCounts;
  file: AtomicFile;
  tokens: number;
  bytes: number;
}

/**
 * Tokenises the inputs of one split into `counter`, writing provisional ids to `file` after room for the header. A leading
 * byte order mark is not part of the text, and a last line without a line end still ends with `<eos>`.
 */
async function countSplit(split: Split, inputs: Input[], counter: WordCounter, file: AtomicFile, opts: PrepareOptions): Promise<Counted> {
  const chunk = opts.chunkBytes ?? CHUNK_BYTES;
  const buf = Buffer.allocUnsafe(chunk + 1);
  const writer = new IdWriter(file, chunk + 1);
  const total = inputs.every((i) => i.size !== undefined) ? inputs.reduce((s, i) => s + i.size!, 0) : undefined;
  let done = 0, bytes = 0;
  for (const input of inputs) {
    const r = await reader(input);
    try {
      let fill = 0, first = true, lastByte = 10, offset = 0, seen = 0;
      const flush = async (last: boolean): Promise<void> => {
        const ids = await writer.next();
        const c = counter.count(buf, fill, last, ids);
        if (c.bad >= 0) throw new DataError(`${input.name}: the text is not UTF-8 (byte ${offset + c.bad})`);
        if (c.consumed === 0 && !last && fill === chunk) throw new DataError(`${input.name}: a word of more than ${chunk} bytes at byte ${offset}: not a text of words`);
        writer.write(c.tokens);
        buf.copyWithin(0, c.consumed, fill);
        fill -= c.consumed;
        offset += c.consumed;
      };
      for (;;) {
        const n = await r.read(buf, fill, chunk - fill);
        if (n === 0) break;
        if (first) {
          first = false;
          if (fill + n >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) {
            buf.copyWithin(0, 3, fill + n);
            fill -= 3;
            offset += 3;
          }
        }
        fill += n;
        bytes += n;
        seen += n;
        lastByte = buf[fill - 1] ?? lastByte;
        if (fill === chunk) await flush(false);
        opts.onProgress?.({ split, bytes: done + r.raw(), total, tokens: writer.tokens });
      }
      if (lastByte !== 10 && seen > 0) buf[fill++] = 10;
      await flush(true);
      done += r.raw();
    } finally {
      r.close();
    }
  }
  await writer.finish();
  opts.onProgress?.({ split, bytes: done, total, tokens: writer.tokens });
  const words = counter.words();
  if (!words.counts.some((c, i) => c > 0 && words.words[i] !== EOS)) {
    throw new DataError(`${inputs.map((i) => i.name).join(', ')} holds no words (empty, or white space only)`);
  }
  return { words, file, tokens: writer.tokens, bytes };
}

/**
 * Writes a token file's ids after its header, from two buffers in turn: a chunk's ids go to the disk on libuv's
 * thread pool while the next chunk is counted into the other buffer.
 */
class IdWriter {
  tokens = 0;
  private readonly buffers: Int32Array[];
  private turn = 0;
  private pending: Promise<void> = Promise.resolve();

  constructor(private readonly file: AtomicFile, size: number) {
    this.buffers = [new Int32Array(size), new Int32Array(size)];
  }

  /** The buffer to count into next, once its earlier write is done. */
  async next(): Promise<Int32Array> {
    if (this.turn >= 2) await this.pending;
    return this.buffers[this.turn % 2];
  }

  /** Starts writing the first `n` ids of the buffer `next` gave. */
  write(n: number): void {
    const ids = this.buffers[this.turn % 2];
    const position = HEADER_BYTES + this.tokens * 4;
    const before = this.pending;
    this.pending = before.then(() => this.file.writeAsync(new Uint8Array(ids.buffer, 0, n * 4), position));
    this.pending.catch(() => undefined); // a failure is reported by next() or finish(), not as an unhandled rejection
    this.tokens += n;
    this.turn++;
  }

  finish(): Promise<void> {
    return this.pending;
  }
}

/**
 * The vocabulary of the training counts: `<eos>`, `<unk>` and the most frequent other words (at most vocabSize in
 * all, each seen at least minCount times); `<unk>` counts the tokens of the words left out. Ids go by count, most
 * frequent first, ties by the words' code units: the order a class output needs, the same on every machine.
 * `idOf[i]` is the id of words[i], or -1 for a word left out.
 */
export function chooseVocabulary(words: string[], counts: Float64Array, vocabSize = Infinity, minCount = 1): Vocabulary & { idOf: Int32Array } {
  if (!(vocabSize >= 2)) throw new RangeError(`Expected a vocabulary size of at least 2 (<eos> and <unk>) but received ${vocabSize}`);
  let eos = 0, unk = 0;
  // Word indices by count, a bucket per count.
  const buckets = new Map<number, number[]>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i], c = counts[i];
    if (w === EOS) eos += c;
    else if (w === UNK) unk += c;
    else if (c > 0) {
      const b = buckets.get(c);
      if (b) b.push(i);
      else buckets.set(c, [i]);
    }
  }
  const room = Math.min(vocabSize - 2, words.length);
  const kept: number[] = [];
  const byWord = (a: number, b: number): number => (words[a] < words[b] ? -1 : 1);
  for (const c of [...buckets.keys()].sort((a, b) => b - a)) {
    const bucket = buckets.get(c)!;
    const take = c < minCount ? 0 : Math.min(bucket.length, room - kept.length);
    if (take > 0) {
      bucket.sort(byWord);
      for (let i = 0; i < take; i++) kept.push(bucket[i]);
    }
    unk += c * (bucket.length - take);
  }
  // <eos> and <unk> take their places by count among the kept words (index -1 and -2 stand for them).
  const countOf = (k: number): number => (k === -1 ? eos : k === -2 ? unk : counts[k]);
  const wordOf = (k: number): string => (k === -1 ? EOS : k === -2 ? UNK : words[k]);
  for (const special of [-1, -2]) {
    const c = countOf(special), w = wordOf(special);
    let at = 0;
    while (at < kept.length && (countOf(kept[at]) > c || (countOf(kept[at]) === c && wordOf(kept[at]) < w))) at++;
    kept.splice(at, 0, special);
  }
  const unkId = kept.indexOf(-2);
  const idOf = new Int32Array(words.length).fill(-1);
  kept.forEach((k, id) => {
    if (k >= 0) idOf[k] = id;
  });
  words.forEach((w, i) => {
    if (w === EOS) idOf[i] = kept.indexOf(-1);
    else if (w === UNK) idOf[i] = unkId;
  });
  return { words: kept.map(wordOf), counts: Float64Array.from(kept, countOf), idOf };
}

/**
 * Renumbers a split's provisional ids through `table` (provisional id -> id) in place and writes the header that
 * ties them to the vocabulary. Returns the ids' checksum.
 */
function renumber(counted: Counted, table: Int32Array, vocab: { size: number; checksum: string }, backend: Backend): string {
  const { file, tokens } = counted;
  const checksum = IdsChecksum.hex(backend.renumberFile(file.fd, HEADER_BYTES, tokens, table), tokens);
  file.write(encodeHeader({ tokens, vocabSize: vocab.size, vocabChecksum: vocab.checksum, idsChecksum: checksum }), 0);
  return checksum;
}

/**
 * provisional id -> id, given the id of every counted word (-1: not in the vocabulary, so `<unk>`); counts the
 * tokens that became `<unk>`.
 */
function numbering(words: WordCounts, idOf: Int32Array, unk: number): { table: Int32Array; unknown: number } {
  let unknown = 0;
  for (let i = 0; i < idOf.length; i++) {
    if (idOf[i] < 0) {
      idOf[i] = unk;
      unknown += words.counts[i];
    }
  }
  const by = words.byProvisional, table = new Int32Array(by.length);
  for (let p = 0; p < by.length; p++) table[p] = by[p] < 0 ? 0 : idOf[by[p]];
  return { table, unknown };
}

/** The id of every counted word in a vocabulary given by its index (-1 where it has none). */
function idsIn(words: WordCounts, index: Map<string, number>): Int32Array {
  return Int32Array.from(words.words, (w) => index.get(w) ?? -1);
}

function checkOutputFolder(dir: string): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new DataError(`-o ${dir} is a file, not a folder`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new DataError(`cannot write to ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Prepares a dataset in opts.out (see the module comment); the manifest is written last, when all else is in place. */
export async function prepareDataset(opts: PrepareOptions): Promise<PrepareResult> {
  if (opts.vocabSize !== undefined && !(Number.isSafeInteger(opts.vocabSize) && opts.vocabSize >= 2)) {
    throw new DataError(`--vocab-size must be a whole number of at least 2 (<eos> and <unk>), not ${opts.vocabSize}`);
  }
  if (opts.vocab !== undefined && (opts.vocabSize !== undefined || opts.minCount !== undefined)) {
    throw new DataError('--vocab numbers the text with an existing vocabulary: --vocab-size and --min-count do not apply');
  }
  const given = opts.vocab !== undefined ? readVocabulary(opts.vocab) : undefined;
  if (given && !given.words.includes(UNK)) throw new DataError(`the vocabulary ${opts.vocab} has no ${UNK} for the words it lacks`);
  const sources: [Split, Input[]][] = [['train', expandInputs(opts.train)]];
  if (opts.valid) sources.push(['valid', expandInputs(opts.valid)]);
  if (opts.test) sources.push(['test', expandInputs(opts.test)]);
  if (sources.filter(([, i]) => i.some((x) => x.name === 'standard input')).length > 1) throw new DataError("standard input ('-') can be read for one split only");
  checkOutputFolder(opts.out);
  // From here on the folder holds no dataset until the new manifest is written.
  fs.rmSync(path.join(opts.out, MANIFEST), { force: true });
  const threads = opts.backend.name === 'native' ? 2 : 1;
  const counted = new Map<Split, Counted>();
  const outputs: AtomicFile[] = [];
  try {
    for (const [split, inputs] of sources) {
      const file = new AtomicFile(path.join(opts.out, `${split}.tok`));
      outputs.push(file);
      counted.set(split, await countSplit(split, inputs, opts.backend.wordCounter(threads), file, opts));
    }
    const train = counted.get('train')!;
    const trainWords = train.words;
    const chosen = given ? undefined : chooseVocabulary(trainWords.words, trainWords.counts, opts.vocabSize, opts.minCount);
    const vocab = given ?? chosen!;
    let index: Map<string, number> | undefined;
    const idsOf = (words: WordCounts): Int32Array => idsIn(words, index ??= new Map(vocab.words.map((w, i) => [w, i])));
    const unk = vocab.words.indexOf(UNK);
    const checksum = vocabularyChecksum(vocab.words);
    const manifest: Manifest = { format: DATASET_FORMAT, version: DATASET_VERSION, vocab: { file: VOCAB_FILE, size: vocab.words.length, checksum }, splits: {} };
    const result: PrepareResult = { vocabSize: vocab.words.length, splits: {} };
    for (const [split, inputs] of sources) {
      const c = counted.get(split)!;
      const idOf = split === 'train' && chosen ? chosen.idOf : idsOf(c.words);
      if (idOf[0] < 0 && c.words.counts[0] > 0) throw new DataError(`the vocabulary ${opts.vocab} has no ${EOS} for the line ends of the ${split} text`);
      const { table, unknown } = numbering(c.words, idOf, unk);
      const idsChecksum = renumber(c, table, { size: vocab.words.length, checksum }, opts.backend);
      manifest.splits[split] = { file: `${split}.tok`, tokens: c.tokens, checksum: idsChecksum, sources: inputs.map((i) => i.name) };
      result.splits[split] = { tokens: c.tokens, unknown, bytes: c.bytes };
      if (given && split === 'train') given.counts = countsIn(given, c.words, idOf);
    }
    const vocabFile = new AtomicFile(path.join(opts.out, VOCAB_FILE));
    outputs.push(vocabFile);
    vocabFile.write(Buffer.from(formatVocabulary(vocab)));
    for (const f of outputs) f.commit();
    writeFileAtomic(path.join(opts.out, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    return result;
  } finally {
    for (const f of outputs) f.abort();
  }
}

/** The counts of a given vocabulary's words in the training text (`<unk>` counting the words it lacks). */
function countsIn(vocab: Vocabulary, words: WordCounts, idOf: Int32Array): Float64Array {
  const counts = new Float64Array(vocab.words.length);
  for (let i = 0; i < idOf.length; i++) counts[idOf[i]] += words.counts[i];
  return counts;
}
