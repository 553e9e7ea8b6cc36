import { SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { BACKEND_NAMES, type BackendName } from '../backend';
import { openDataset } from '../data/dataset';
import { DataError, PTB_FILES, readPtbFile, tokenize } from '../data/ptb';
import { remapSource, type TokenSource } from '../data/tokens';
import { evalPerplexity } from '../trainer';
import { positiveInt, UsageError } from './args';
import { readText } from './corpus';
import { loadModelFile } from './model-file';
import type { Io } from './io';
import { pickBackend } from './io';

export interface EvalFlags {
  split: 'valid' | 'test' | 'train';
  text?: string;
  data?: string;
  batchSize: number;
  timeSize: number;
  backend?: BackendName;
  dataDir?: string;
}

/** `rnnlm eval weights --split valid|test`: perplexity over a whole split, as the book's eval_perplexity. */
export async function evaluate(file: string, flags: EvalFlags, io: Io): Promise<void> {
  if (flags.data !== undefined && flags.text !== undefined) throw new UsageError('--data and --text do not go together');
  const backend = pickBackend(flags.backend, io.err);
  const { model, vocab } = await loadModelFile(file, backend, flags.dataDir);
  const { ids, source } = flags.data !== undefined ? datasetSplit(flags.data, flags.split, vocab) : await textIds(flags, vocab);
  if (ids.length - 1 < flags.batchSize * flags.timeSize) {
    throw new UsageError(
      `${source} has ${ids.length} words: evaluating it needs more than --batch-size x --time-size = ${flags.batchSize * flags.timeSize} (lower them)`,
    );
  }
  const bar = process.stderr.isTTY ? new SingleBar({ stream: process.stderr, clearOnComplete: true, format: 'evaluating {bar} {value}/{total} | ETA {eta_formatted}' }) : undefined;
  let started = false;
  const ppl = evalPerplexity(model, ids, flags.batchSize, flags.timeSize, (i, n) => {
    if (bar && !started) {
      bar.start(n, 0);
      started = true;
    }
    bar?.update(i);
  });
  bar?.stop();
  io.out(`${source}: ${ids.length} tokens, perplexity ${ppl.toFixed(2)}`);
}

/** A prepared dataset's split in the model's numbering (words matched by name; the dataset's `<unk>` is the model's). */
function datasetSplit(dir: string, split: EvalFlags['split'], vocab: string[]): { ids: TokenSource; source: string } {
  const ds = openDataset(dir);
  const tokens = ds.split(split);
  const modelId = new Map(vocab.map((w, i) => [w, i]));
  const unk = modelId.get('<unk>');
  const missing: string[] = [];
  const table = Int32Array.from(ds.vocab.words, (w) => {
    const id = modelId.get(w) ?? unk;
    if (id === undefined) missing.push(w);
    return id ?? 0;
  });
  if (missing.length > 0) {
    throw new DataError(`the model's vocabulary (${vocab.length} words, no <unk>) lacks ${missing.length} words of ${dir} (${missing.slice(0, 5).map((w) => `'${w}'`).join(', ')}${missing.length > 5 ? ', ...' : ''})`);
  }
  return { ids: remapSource(tokens, table), source: `${dir} ${split} split` };
}

async function textIds(flags: EvalFlags, vocab: string[]): Promise<{ ids: Int32Array; source: string }> {
  const source = flags.text ?? PTB_FILES[flags.split].file;
  const text = flags.text !== undefined ? readText(flags.text) : await readPtbFile(flags.split, { dir: flags.dataDir });
  const wordToId = new Map(vocab.map((w, i) => [w, i]));
  // A PTB split is covered word for word or refused; a user's text may fall back to <unk>.
  const unk = flags.text !== undefined ? wordToId.get('<unk>') : undefined;
  const words = tokenize(text);
  const ids = new Int32Array(words.length);
  const missing = new Set<string>();
  words.forEach((w, i) => {
    const id = wordToId.get(w) ?? unk;
    if (id === undefined) missing.add(w);
    else ids[i] = id;
  });
  if (missing.size > 0) {
    const some = [...missing].slice(0, 5).map((w) => `'${w}'`).join(', ');
    throw new DataError(
      `the model's vocabulary (${vocab.length} words) does not cover ${source}: ${missing.size} of its words are missing (${some}${missing.size > 5 ? ', ...' : ''}); ` +
      'was it trained on a small --corpus-size? (train with --full-vocab to keep every PTB word)',
    );
  }
  if (ids.length === 0) throw new DataError(`${source} has no words to evaluate`);
  return { ids, source };
}

export function evalCommand(run: (file: string, flags: EvalFlags) => Promise<void>): Command {
  return new Command('eval')
    .description('Perplexity of a trained model over a whole split (the book\'s eval_perplexity)')
    .argument('<weights>', 'a .safetensors file written by rnnlm train --save')
    .addOption(new Option('--split <name>', 'Penn Treebank split').choices(['valid', 'test', 'train']).default('test'))
    .option('--text <file>', 'evaluate this whitespace-tokenised text instead of a PTB split')
    .option('--data <dir>', "evaluate --split of this prepared dataset (rnnlm prepare) instead of Penn Treebank's")
    .option('--batch-size <n>', 'rows per window', positiveInt, 10)
    .option('--time-size <n>', 'time steps per window', positiveInt, 35)
    .addOption(new Option('--backend <name>', 'arithmetic backend').choices(BACKEND_NAMES))
    .option('--data-dir <dir>', 'folder with ptb.{train,valid,test}.txt (default: $PTB_DIR, else ~/.cache/rnnlm/ptb)')
    .addHelpText('after', `
Examples:
  $ rnnlm eval model.safetensors --split valid
  $ rnnlm eval model.safetensors --split test --batch-size 20
  $ rnnlm eval mine.safetensors --text my-test.txt
  $ rnnlm eval mine.safetensors --data data/mine --split test`)
    .action(async (file: string, opts: EvalFlags) => run(file, opts));
}
