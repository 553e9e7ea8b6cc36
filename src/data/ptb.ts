import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomic';

export type PtbSplit = 'train' | 'valid' | 'test';
export const PTB_SPLITS: readonly PtbSplit[] = ['train', 'valid', 'test'];

/** The canonical Penn Treebank files (Mikolov's split) and their sha256 sums. */
export const PTB_FILES: Record<PtbSplit, { file: string; sha256: string }> = {
  train: { file: 'ptb.train.txt', sha256: 'fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf' },
  valid: { file: 'ptb.valid.txt', sha256: 'c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2' },
  test: { file: 'ptb.test.txt', sha256: 'dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0' },
};

/** Where the files are served publicly; RNNLM_PTB_URL overrides it (a mirror, or a test server). */
export const PTB_DEFAULT_URL = 'https://raw.githubusercontent.com/tomsercu/lstm/master/data/';

export const EOS = '<eos>';

export interface Corpus {
  /** Word ids, one per token, `<eos>` at every line end. */
  corpus: Int32Array;
  wordToId: Map<string, number>;
  idToWord: string[];
}

/** Missing, unreadable or corrupt data, with a message that says where and what to do. */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

export interface PtbOptions {
  /** The folder holding ptb.{train,valid,test}.txt; default PTB_DIR, else the per-user cache. */
  dir?: string;
  /** Download missing files (default true). */
  download?: boolean;
  /** Base URL to download from; default RNNLM_PTB_URL, else PTB_DEFAULT_URL. */
  url?: string;
}

/** The per-user cache folder: $XDG_CACHE_HOME/rnnlm/ptb or ~/.cache/rnnlm/ptb. */
export function ptbCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'rnnlm', 'ptb');
}

export function ptbDir(opts: PtbOptions = {}): string {
  return opts.dir ?? (process.env.PTB_DIR || ptbCacheDir());
}

/**
 * Splits text into words, with `<eos>` at the end of every line (the book's ptb.py:
 * `read().replace('\n', '<eos>').strip().split()`).
 */
export function tokenize(text: string): string[] {
  const words: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    for (const w of lines[i].split(/\s+/)) if (w !== '') words.push(w);
    if (i < lines.length - 1) words.push(EOS);
  }
  return words;
}

/** Ids in order of first appearance. */
export function buildVocab(words: readonly string[]): { wordToId: Map<string, number>; idToWord: string[] } {
  const wordToId = new Map<string, number>();
  const idToWord: string[] = [];
  for (const w of words) {
    if (!wordToId.has(w)) {
      wordToId.set(w, idToWord.length);
      idToWord.push(w);
    }
  }
  return { wordToId, idToWord };
}

/** Word ids of `words`; a word outside the vocabulary is an error that names it and `source`. */
export function toIds(words: readonly string[], wordToId: Map<string, number>, source: string): Int32Array {
  const ids = new Int32Array(words.length);
  for (let i = 0; i < words.length; i++) {
    const id = wordToId.get(words[i]);
    if (id === undefined) {
      throw new DataError(`${source}: word '${words[i]}' (token ${i}) is not in the vocabulary`);
    }
    ids[i] = id;
  }
  return ids;
}

function sha256(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

async function download(url: string, file: string, expected: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(cause?.code ?? cause?.message ?? (e as Error).message, { cause: e });
  }
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const buf = new Uint8Array(await res.arrayBuffer());
  const got = sha256(buf);
  if (got !== expected) {
    throw new DataError(`downloaded ${path.basename(file)} from ${url} has sha256 ${got}, expected ${expected}; not saved`);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, buf);
}

/** Reads one split's file (downloading it when missing) and checks its sha256. */
export async function readPtbFile(split: PtbSplit, opts: PtbOptions = {}): Promise<string> {
  const dir = ptbDir(opts);
  const { file, sha256: expected } = PTB_FILES[split];
  const full = path.join(dir, file);
  if (!fs.existsSync(full)) {
    const base = opts.url ?? (process.env.RNNLM_PTB_URL || PTB_DEFAULT_URL);
    const url = base.endsWith('/') ? base + file : `${base}/${file}`;
    const why = opts.download === false
      ? 'downloads are off'
      : await download(url, full, expected).then(() => undefined, (e: Error) => (e instanceof DataError ? Promise.reject(e) : e.message));
    if (why !== undefined) {
      throw new DataError(
        `Penn Treebank file ${file} not found in ${dir} and could not be downloaded from ${url} (${why}). ` +
        'Put ptb.train.txt, ptb.valid.txt and ptb.test.txt in that folder, or set PTB_DIR (or --data-dir) to a folder that has them.',
      );
    }
  }
  let buf: Buffer;
  try {
    buf = fs.readFileSync(full);
  } catch (e) {
    throw new DataError(`cannot read ${full}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const got = sha256(buf);
  if (got !== expected) {
    throw new DataError(`${full} is corrupt: sha256 ${got}, expected ${expected}. Replace it with the canonical file.`);
  }
  return buf.toString('utf8');
}

/**
 * One split of Penn Treebank as word ids. The vocabulary always comes from ptb.train.txt (ids in order of
 * first appearance, as the book's ptb.py), so every split shares it.
 */
export async function loadPtb(split: PtbSplit, opts: PtbOptions = {}): Promise<Corpus> {
  if (!PTB_SPLITS.includes(split)) {
    throw new RangeError(`Unknown split '${String(split)}': expected one of ${PTB_SPLITS.join(', ')}`);
  }
  const trainWords = tokenize(await readPtbFile('train', opts));
  const { wordToId, idToWord } = buildVocab(trainWords);
  const words = split === 'train' ? trainWords : tokenize(await readPtbFile(split, opts));
  return { corpus: toIds(words, wordToId, PTB_FILES[split].file), wordToId, idToWord };
}
