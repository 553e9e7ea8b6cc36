/**
 * The training (and validation and test) data of a run: a prefix of Penn Treebank, the user's own text files, or a
 * dataset prepared by `rnnlm prepare` (read from disk a stretch at a time).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../backend';
import { DATASET_VERSION, openDataset } from '../data/dataset';
import { prepareDataset } from '../data/prepare';
import { DataError, loadPtb } from '../data/ptb';
import { arraySource, readAll, remapSource, sliceSource, type TokenSource } from '../data/tokens';
import { classesFromCounts, wordCounts, type ClassMethod } from '../data/classes';
import { ioReason } from '../weights';
import { UsageError } from './args';
import type { RunConfig } from './checkpoint';

export interface RunData {
  train: TokenSource;
  valid?: TokenSource;
  /** The test split in this run's numbering, where the data has one. */
  test?: () => Promise<TokenSource>;
  /** id -> word for ids < vocabSize. */
  vocab: string[];
  vocabSize: number;
  /** How often each word occurs in the training data. */
  counts: Float64Array;
  fingerprint: string;
  describe: string;
  /** With `classes`: the class boundaries of the numbering. */
  classBounds?: number[];
}

/** Tokens of a class-based exchange clustering at most: the first this many training tokens (bounded time and memory). */
export const EXCHANGE_SAMPLE = 4_000_000;

/**
 * The data renumbered so that every word class of a class output layer is a run of consecutive ids (see
 * classesFromCounts: by frequency, most frequent first, or by exchange classes, each numbered most frequent first).
 * A numbering that changes nothing (frequency classes of a prepared dataset, already most frequent first) costs
 * nothing; another is applied as the tokens are read.
 */
function byClasses(data: RunData, classes: { count: number; method: ClassMethod }, onProgress?: (line: string) => void): RunData {
  const sample = classes.method === 'exchange' ? readAll(sliceSource(data.train, 0, Math.min(data.train.length, EXCHANGE_SAMPLE))) : undefined;
  const { order, remap, bounds } = classesFromCounts(data.counts, classes.count, classes.method, sample, onProgress);
  const identity = remap.every((r, i) => r === i);
  const map = (ids: TokenSource): TokenSource => (identity ? ids : remapSource(ids, remap));
  const test = data.test;
  return {
    ...data, train: map(data.train), valid: data.valid && map(data.valid), test: test && (async () => map(await test())),
    vocab: Array.from(order, (old) => data.vocab[old]), counts: Float64Array.from(order, (old) => data.counts[old]), classBounds: bounds,
  };
}

export function fingerprint(ids: Int32Array): string {
  return createHash('sha256').update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength)).digest('hex');
}

/** A text file's contents ('-': standard input); unreadable files are a DataError naming the file and the reason. */
export function readText(file: string): string {
  try {
    return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    throw new DataError(`cannot read ${file === '-' ? 'standard input' : file}: ${ioReason(e)}`);
  }
}

/**
 * The run's data; with `classes`, numbered class by class (for class output). The vocabulary is that of the whole
 * text, of the prepared dataset, or of the PTB prefix (all of PTB's with fullVocab).
 */
export async function loadRunData(data: RunConfig['data'], opts: {
  valid: boolean; test?: boolean; dataDir?: string; classes?: { count?: number; method: ClassMethod }; onProgress?: (line: string) => void;
  /** Counts the words of a --text (rnnlm prepare's WordCounter). */
  backend: Backend;
}): Promise<RunData> {
  if (data.kind === 'text' && opts.valid && data.validFile === undefined) throw new UsageError('--valid with --text needs --valid-text <file>');
  const run = data.kind === 'dataset' ? loadDataset(data.dir, opts)
    : data.kind === 'text' ? { ...loadDataset(await preparedText(data.file, data.validFile, opts.backend), opts), describe: data.file }
      : await loadPtbPrefix(data, opts);
  if (!opts.classes) return run;
  return byClasses(run, { count: opts.classes.count ?? defaultClasses(run.vocabSize), method: opts.classes.method }, opts.onProgress);
}

/** Word classes of a class output unless told otherwise: about sqrt(V), the count that makes C + V / C least. */
export function defaultClasses(V: number): number {
  return Math.max(1, Math.round(Math.sqrt(V)));
}

function loadDataset(dir: string, opts: { valid: boolean; test?: boolean }): RunData {
  const ds = openDataset(dir);
  const train = ds.split('train');
  if (opts.valid && !ds.has('valid')) throw new UsageError(`--valid: ${dir} has no validation split (prepare one with rnnlm prepare ... --valid FILE)`);
  const valid = opts.valid ? ds.split('valid') : undefined;
  if (opts.test && ds.has('test')) ds.split('test');
  if (train.length < 2) throw new DataError(`${train.file} has ${train.length} tokens; training needs at least 2`);
  return {
    train, valid, test: ds.has('test') ? async () => ds.split('test') : undefined,
    vocab: ds.vocab.words, vocabSize: ds.vocab.words.length, counts: ds.vocab.counts,
    fingerprint: `${ds.vocabChecksum}${train.header.idsChecksum}`.padEnd(64, '0'), describe: dir,
  };
}

/** The per-user cache of datasets that --text prepares: $XDG_CACHE_HOME/rnnlm/datasets or ~/.cache/rnnlm/datasets. */
export function datasetCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'rnnlm', 'datasets');
}

/**
 * `--text FILE [--valid-text FILE]` as the dataset that `rnnlm prepare FILE [--valid FILE]` makes, kept in the cache
 * under a key of the files' paths, sizes and modification times, so that a second run (or a resumed one) reads it
 * again instead of preparing it anew. Standard input is prepared afresh every time.
 */
async function preparedText(file: string, validFile: string | undefined, backend: Backend): Promise<string> {
  const identity = (f: string): unknown => {
    if (f === '-') return undefined;
    let st: fs.Stats;
    try {
      st = fs.statSync(f);
    } catch (e) {
      throw new DataError(`cannot read ${f}: ${ioReason(e)}`);
    }
    return [path.resolve(f), st.size, st.mtimeMs];
  };
  const ids = [identity(file), validFile === undefined ? null : identity(validFile)];
  const cached = !ids.includes(undefined);
  const key = createHash('sha256').update(JSON.stringify({ version: DATASET_VERSION, ids })).digest('hex').slice(0, 32);
  const dir = cached ? path.join(datasetCacheDir(), key) : fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-text-'));
  if (cached) {
    try {
      openDataset(dir);
      return dir;
    } catch {
      // not there yet, or left unfinished: prepare it
    }
  }
  await prepareDataset({ train: [file], valid: validFile === undefined ? undefined : [validFile], out: dir, backend });
  return dir;
}

async function loadPtbPrefix(data: Extract<RunConfig['data'], { kind: 'ptb' }>, opts: { valid: boolean; test?: boolean; dataDir?: string }): Promise<RunData> {
  const ptb = await loadPtb('train', { dir: opts.dataDir });
  let train = ptb.corpus;
  if (data.corpusSize > 0) {
    if (data.corpusSize > train.length) {
      throw new UsageError(`--corpus-size ${data.corpusSize} exceeds the ${train.length} tokens of ptb.train.txt`);
    }
    train = train.subarray(0, data.corpusSize);
  }
  if (train.length < 2) throw new UsageError('--corpus-size must be at least 2 (an input and a target)');
  // The words a prefix uses (ids are in order of first appearance), or with fullVocab all of the split's.
  let vocabSize = 0;
  if (data.fullVocab) vocabSize = ptb.idToWord.length;
  else for (const id of train) vocabSize = Math.max(vocabSize, id + 1);
  const covers = async (split: 'valid' | 'test', flag: string): Promise<Int32Array> => {
    const ids = (await loadPtb(split, { dir: opts.dataDir })).corpus;
    let max = 0;
    for (const id of ids) max = Math.max(max, id);
    if (max >= vocabSize) {
      throw new UsageError(
        `${flag}: the first ${train.length} training tokens hold ${vocabSize} of the ${ptb.idToWord.length} words that ptb.${split}.txt uses; ` +
        'keep the whole split\'s vocabulary (--full-vocab) or train on the whole split (--corpus-size 0)',
      );
    }
    return ids;
  };
  const valid = opts.valid ? await covers('valid', '--valid') : undefined;
  if (opts.test) await covers('test', '--test');
  return {
    train: arraySource(train), valid: valid && arraySource(valid), test: async () => arraySource(await covers('test', '--test')),
    vocab: ptb.idToWord.slice(0, vocabSize), vocabSize, counts: wordCounts(train, vocabSize), fingerprint: fingerprint(train),
    describe: `ptb.train.txt${data.corpusSize > 0 ? ` (first ${train.length} tokens${data.fullVocab ? ', the whole vocabulary' : ''})` : ''}`,
  };
}
