/**
 * A prepared dataset (`rnnlm prepare`; the format is described in docs/data-format.md): a folder holding
 *   vocab.txt      one entry a line, `word<TAB>count`; the line number (from 0) is the id;
 *   train.tok      the training split, and valid.tok / test.tok when prepared: a 64-byte header, then the ids as
 *                  little-endian int32;
 *   dataset.json   the manifest, written last: a folder without it is not a dataset.
 * Opening a dataset checks everything that ties these together (sizes, checksums, every id below the vocabulary
 * size) before a run starts, and reads nothing of the ids into memory beyond a block at a time.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checksumLanes, CHECKSUM_START } from '../backend/words';
import { DataError } from './ptb';
import { forEachBlock, readIds, type TokenSource } from './tokens';

export const SPLITS = ['train', 'valid', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export const MANIFEST = 'dataset.json';
export const VOCAB_FILE = 'vocab.txt';
export const DATASET_FORMAT = 'rnnlm.dataset';
export const DATASET_VERSION = 2;
export const UNK = '<unk>';

/** The token file header: magic, version, bytes per id, token count, vocabulary size and two checksums. */
export const TOKEN_MAGIC = 'RNNLMTOK';
export const TOKEN_VERSION = 2;
export const HEADER_BYTES = 64;

export interface TokenHeader {
  tokens: number;
  vocabSize: number;
  /** vocabularyChecksum of the vocabulary the ids number. */
  vocabChecksum: string;
  /** IdsChecksum of the ids. */
  idsChecksum: string;
}

export interface Manifest {
  format: typeof DATASET_FORMAT;
  version: number;
  vocab: { file: string; size: number; checksum: string };
  splits: Partial<Record<Split, { file: string; tokens: number; checksum: string; sources: string[] }>>;
}

/** The checksum that ties token files to their vocabulary: sha256 of the words, one a line, first 16 bytes. */
export function vocabularyChecksum(words: readonly string[]): string {
  const h = createHash('sha256');
  for (const w of words) h.update(w).update('\n');
  return h.digest('hex').slice(0, 32);
}

/**
 * A running checksum of a sequence of ids (two polynomial hash lanes of 32 bits, and the count): cheap enough
 * to verify a token file as it is opened, and it changes when an id changes or moves.
 */
export class IdsChecksum {
  private lanes: [number, number] = [...CHECKSUM_START];
  private n = 0;

  add(ids: Int32Array): void {
    this.lanes = checksumLanes(this.lanes, ids);
    this.n += ids.length;
  }

  static hex(lanes: readonly [number, number], n: number): string {
    const h = (x: number): string => (x >>> 0).toString(16).padStart(8, '0');
    return h(lanes[0]) + h(lanes[1]) + h(n % 0x100000000);
  }

  hex(): string {
    return IdsChecksum.hex(this.lanes, this.n);
  }
}

export function encodeHeader(h: TokenHeader): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.write(TOKEN_MAGIC, 0, 'latin1');
  b.writeUInt32LE(TOKEN_VERSION, 8);
  b.writeUInt32LE(4, 12);
  b.writeBigUInt64LE(BigInt(h.tokens), 16);
  b.writeUInt32LE(h.vocabSize, 24);
  Buffer.from(h.vocabChecksum, 'hex').copy(b, 28);
  Buffer.from(h.idsChecksum, 'hex').copy(b, 44);
  return b;
}

function decodeHeader(b: Buffer, file: string): TokenHeader {
  if (b.length < HEADER_BYTES || b.toString('latin1', 0, 8) !== TOKEN_MAGIC) {
    throw new DataError(`${file} is not an rnnlm token file (no ${TOKEN_MAGIC} header)`);
  }
  const version = b.readUInt32LE(8);
  if (version !== TOKEN_VERSION) throw new DataError(`${file} is a token file of version ${version}; this rnnlm reads version ${TOKEN_VERSION}`);
  if (b.readUInt32LE(12) !== 4) throw new DataError(`${file} holds ids of ${b.readUInt32LE(12)} bytes; expected 4`);
  const tokens = b.readBigUInt64LE(16);
  if (tokens > BigInt(Number.MAX_SAFE_INTEGER)) throw new DataError(`${file} claims ${tokens} tokens`);
  return {
    tokens: Number(tokens), vocabSize: b.readUInt32LE(24),
    vocabChecksum: b.toString('hex', 28, 44), idsChecksum: b.toString('hex', 44, 56),
  };
}

/** A vocabulary file: id -> word and the training counts. */
export interface Vocabulary {
  words: string[];
  counts: Float64Array;
}

/** Reads `word<TAB>count` lines (or bare words, count 0); a duplicate word or a bad count is refused, naming the line. */
export function readVocabulary(file: string): Vocabulary {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError(`cannot read the vocabulary ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const words: string[] = [];
  const counts = new Float64Array(lines.length);
  const seen = new Map<string, number>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    const tab = line.indexOf('\t');
    const word = tab < 0 ? line : line.slice(0, tab);
    if (word === '' || /\s/.test(word)) throw new DataError(`${file}, line ${i + 1}: '${line}' is not a word (a word has no white space)`);
    const first = seen.get(word);
    if (first !== undefined) throw new DataError(`${file}, line ${i + 1}: '${word}' is already the word of line ${first + 1}`);
    seen.set(word, i);
    words.push(word);
    if (tab >= 0) {
      const count = line.slice(tab + 1);
      if (!/^\d+$/.test(count) || !Number.isSafeInteger(Number(count))) throw new DataError(`${file}, line ${i + 1}: count '${count}' is not a whole number`);
      counts[i] = Number(count);
    }
  }
  if (words.length === 0) throw new DataError(`the vocabulary ${file} is empty`);
  return { words, counts };
}

export function formatVocabulary(v: Vocabulary): string {
  let s = '';
  for (let i = 0; i < v.words.length; i++) s += `${v.words[i]}\t${v.counts[i]}\n`;
  return s;
}

/** One split's token file, read by offset: a TokenSource whose ids were all checked against the vocabulary. */
export class TokenFile implements TokenSource {
  readonly length: number;
  readonly idLimit: number;

  private constructor(readonly file: string, private readonly fd: number, readonly header: TokenHeader) {
    this.length = header.tokens;
    this.idLimit = header.vocabSize;
  }

  /**
   * Opens `file` and checks it against a vocabulary of `vocabSize` words with `vocabChecksum`: its header, its
   * size, every id and the ids' checksum.
   */
  static open(file: string, vocabSize: number, vocabChecksum: string): TokenFile {
    if (os.endianness() !== 'LE') throw new DataError('token files hold little-endian ids; this machine is big-endian');
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new DataError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      const head = Buffer.alloc(HEADER_BYTES);
      const got = fs.readSync(fd, head, 0, HEADER_BYTES, 0);
      const header = decodeHeader(head.subarray(0, got), file);
      const size = fs.fstatSync(fd).size;
      const want = HEADER_BYTES + header.tokens * 4;
      if (size < want) throw new DataError(`${file} is truncated: ${size} bytes where its header says ${header.tokens} tokens (${want} bytes)`);
      if (size > want) throw new DataError(`${file} has ${size - want} bytes more than the ${header.tokens} tokens its header says`);
      if (header.vocabSize !== vocabSize || header.vocabChecksum !== vocabChecksum) {
        throw new DataError(`${file} numbers another vocabulary (${header.vocabSize} words) than the dataset's (${vocabSize} words)`);
      }
      if (header.tokens < 1) throw new DataError(`${file} holds no tokens`);
      const t = new TokenFile(file, fd, header);
      t.verify();
      return t;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  read(start: number, out: Int32Array): void {
    if (!(start >= 0 && start + out.length <= this.length)) {
      throw new RangeError(`Expected tokens within [0, ${this.length}) of ${this.file} but received [${start}, ${start + out.length})`);
    }
    readIds(this.fd, HEADER_BYTES, start, out, this.file);
  }

  /** Every id below the vocabulary size, and the ids' checksum as the header says. */
  private verify(): void {
    const sum = new IdsChecksum();
    const V = this.idLimit;
    forEachBlock({ length: this.length, read: (s, out) => this.read(s, out) }, (ids, start) => {
      for (let i = 0; i < ids.length; i++) {
        if (!(ids[i] >= 0 && ids[i] < V)) throw new DataError(`${this.file}: token ${start + i} has id ${ids[i]}, outside the vocabulary of ${V} words`);
      }
      sum.add(ids);
    });
    if (sum.hex() !== this.header.idsChecksum) throw new DataError(`${this.file} is corrupt: its ids do not match the checksum in its header`);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

export interface Dataset {
  dir: string;
  vocab: Vocabulary;
  vocabChecksum: string;
  manifest: Manifest;
  /** The id of `<unk>` (every prepared vocabulary has one). */
  unk: number;
  has(split: Split): boolean;
  /** A split's tokens (opened and checked at the first call). */
  split(split: Split): TokenFile;
}

/** Opens the dataset in `dir`, checking the manifest against the vocabulary; splits are opened when asked for. */
export function openDataset(dir: string): Dataset {
  const manifestFile = path.join(dir, MANIFEST);
  if (!fs.existsSync(dir)) throw new DataError(`${dir} does not exist: prepare a dataset with rnnlm prepare TEXT -o ${dir}`);
  if (!fs.existsSync(manifestFile)) {
    throw new DataError(`${dir} is not a prepared dataset (no ${MANIFEST}; a prepare that did not finish leaves none): run rnnlm prepare TEXT -o ${dir}`);
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
  } catch (e) {
    throw new DataError(`${manifestFile} is not valid JSON: ${(e as Error).message}`);
  }
  if (manifest?.format !== DATASET_FORMAT || typeof manifest.vocab?.size !== 'number' || typeof manifest.splits !== 'object') {
    throw new DataError(`${manifestFile} is not an rnnlm dataset manifest`);
  }
  if (manifest.version !== DATASET_VERSION) throw new DataError(`${manifestFile} is of version ${manifest.version}; this rnnlm reads version ${DATASET_VERSION}`);
  const vocabFile = path.join(dir, VOCAB_FILE);
  const vocab = readVocabulary(vocabFile);
  if (vocab.words.length !== manifest.vocab.size) {
    throw new DataError(`${vocabFile} has ${vocab.words.length} words, but the dataset's token files number ${manifest.vocab.size}`);
  }
  const vocabChecksum = vocabularyChecksum(vocab.words);
  if (vocabChecksum !== manifest.vocab.checksum) throw new DataError(`${vocabFile} is not the vocabulary its token files were numbered with`);
  const unk = vocab.words.indexOf(UNK);
  if (unk < 0) throw new DataError(`${vocabFile} has no ${UNK}`);
  const opened = new Map<Split, TokenFile>();
  return {
    dir, vocab, vocabChecksum, manifest, unk,
    has: (split) => manifest.splits[split] !== undefined,
    split(split) {
      let t = opened.get(split);
      if (t) return t;
      const entry = manifest.splits[split];
      if (!entry) throw new DataError(`${dir} has no ${split} split: prepare it with rnnlm prepare ... --${split} FILE`);
      t = TokenFile.open(path.join(dir, entry.file), vocab.words.length, vocabChecksum);
      if (t.length !== entry.tokens || t.header.idsChecksum !== entry.checksum) {
        throw new DataError(`${t.file} is not the ${split} split that ${MANIFEST} lists`);
      }
      opened.set(split, t);
      return t;
    },
  };
}
