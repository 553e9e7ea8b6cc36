/** The training (and validation) data of a run: a prefix of Penn Treebank, or the user's own text files. */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { buildVocab, DataError, loadPtb, tokenize, toIds } from '../data/ptb';
import { wordClasses, type ClassMethod } from '../layers/class-softmax';
import { ioReason } from '../weights';
import { UsageError } from './args';
import type { RunConfig } from './checkpoint';

export interface RunData {
  train: Int32Array;
  valid?: Int32Array;
  /** id -> word for ids < vocabSize. */
  vocab: string[];
  vocabSize: number;
  fingerprint: string;
  describe: string;
  /** With `classes`: the class boundaries of the numbering. */
  classBounds?: number[];
  /** Another text's ids (e.g. ptb.test.txt, read with the PTB numbering) in this run's numbering. */
  toRunIds: (ids: Int32Array) => Int32Array;
}

/**
 * The data renumbered so that every word class of a class output layer is a run of consecutive ids (see
 * wordClasses: by frequency, most frequent first, or by exchange classes, each numbered most frequent first).
 */
function byClasses(data: RunData, classes: { count: number; method: ClassMethod }): RunData {
  const { order, remap, bounds } = wordClasses(data.train, data.vocabSize, classes.count, classes.method);
  const map = (ids: Int32Array): Int32Array => Int32Array.from(ids, (id) => remap[id]);
  const train = map(data.train);
  return {
    ...data, train, valid: data.valid && map(data.valid), vocab: Array.from(order, (old) => data.vocab[old]),
    classBounds: bounds, fingerprint: fingerprint(train), toRunIds: (ids) => map(data.toRunIds(ids)),
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

/** Word ids of a validation text in the training vocabulary; unknown words become <unk> when it has one. */
function validIds(words: string[], wordToId: Map<string, number>, file: string): Int32Array {
  const unk = wordToId.get('<unk>');
  if (unk === undefined) return toIds(words, wordToId, file);
  return Int32Array.from(words, (w) => wordToId.get(w) ?? unk);
}

/**
 * The run's data; with `classes`, numbered class by class (for class output). The vocabulary is that of the whole
 * text, or of the PTB prefix (all of PTB's with fullVocab).
 */
export async function loadRunData(data: RunConfig['data'],
  opts: { valid: boolean; test?: boolean; dataDir?: string; classes?: { count: number; method: ClassMethod } }): Promise<RunData> {
  const run = await loadData(data, opts);
  return opts.classes ? byClasses(run, opts.classes) : run;
}

async function loadData(data: RunConfig['data'], opts: { valid: boolean; test?: boolean; dataDir?: string }): Promise<RunData> {
  if (data.kind === 'text') {
    const words = tokenize(readText(data.file));
    if (words.length < 2) throw new DataError(`${data.file} has ${words.length} words; training needs at least 2`);
    const { wordToId, idToWord } = buildVocab(words);
    const train = toIds(words, wordToId, data.file);
    let valid: Int32Array | undefined;
    if (data.validFile) valid = validIds(tokenize(readText(data.validFile)), wordToId, data.validFile);
    else if (opts.valid) throw new UsageError('--valid with --text needs --valid-text <file>');
    return { train, valid, vocab: idToWord, vocabSize: idToWord.length, fingerprint: fingerprint(train), describe: data.file, toRunIds: (ids) => ids };
  }
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
    train, valid, vocab: ptb.idToWord.slice(0, vocabSize), vocabSize, fingerprint: fingerprint(train), toRunIds: (ids) => ids,
    describe: `ptb.train.txt${data.corpusSize > 0 ? ` (first ${train.length} tokens${data.fullVocab ? ', the whole vocabulary' : ''})` : ''}`,
  };
}
