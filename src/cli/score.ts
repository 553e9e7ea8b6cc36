/** `rnnlm score MODEL [FILE|-]`: the log-probability and perplexity of every sentence (one per line). */
import { Command, Option } from 'commander';
import { BACKEND_NAMES, type BackendName } from '../backend';
import { DataError, EOS } from '../data/ptb';
import { scoreSentences } from '../scorer';
import { readText } from './corpus';
import { openDataset } from '../data/dataset';
import { forEachBlock } from '../data/tokens';
import { loadModelFile } from './model-file';
import type { Io } from './io';
import { pickBackend } from './io';

export interface ScoreFlags {
  data?: string;
  split?: 'train' | 'valid' | 'test';
  words?: boolean;
  independent?: boolean;
  backend?: BackendName;
  dataDir?: string;
}

const LN10 = Math.log(10);

export async function score(model: string, file: string, flags: ScoreFlags, io: Io): Promise<void> {
  const backend = pickBackend(flags.backend, io.err);
  const { model: lm, vocab } = await loadModelFile(model, backend, flags.dataDir);
  const wordToId = new Map(vocab.map((w, i) => [w, i]));
  const eos = wordToId.get(EOS);
  if (eos === undefined) throw new DataError(`${model}: the vocabulary has no ${EOS}, so sentences cannot be scored`);
  const unk = wordToId.get('<unk>');
  const lines = flags.data !== undefined ? datasetSentences(flags.data, flags.split ?? 'test') : textSentences(file);
  const oovs: number[] = [];
  const missing = new Set<string>();
  const sentences = lines.map((words) => {
    let oov = 0;
    const ids = Int32Array.from(words, (w) => {
      const id = wordToId.get(w);
      if (id !== undefined) return id;
      oov++; // counted as SRILM and rnnlm count them; scored as <unk>
      if (unk === undefined) missing.add(w);
      return unk ?? 0;
    });
    oovs.push(oov);
    return ids;
  });
  if (missing.size > 0) {
    throw new DataError(`${[...missing].slice(0, 5).map((w) => `'${w}'`).join(', ')}${missing.size > 5 ? ', ...' : ''} not in the vocabulary, which has no <unk>`);
  }
  const logp = scoreSentences(lm, sentences, eos, { independent: flags.independent });
  io.out('# logprob10\tlogprob\twords\toovs\tppl\tsentence');
  let total = 0, words = 0, oovTotal = 0;
  lines.forEach((ws, k) => {
    const lp = logp[k].reduce((a, b) => a + b, 0);
    total += lp;
    words += ws.length;
    oovTotal += oovs[k];
    io.out(`${(lp / LN10).toFixed(4)}\t${lp.toFixed(4)}\t${ws.length}\t${oovs[k]}\t${Math.exp(-lp / (ws.length + 1)).toFixed(2)}\t${ws.join(' ')}`);
    if (flags.words) {
      [...ws, EOS].forEach((w, i) => io.out(`#\t${(logp[k][i] / LN10).toFixed(4)}\t${logp[k][i].toFixed(4)}\t${w}`));
    }
  });
  const n = words + lines.length; // every word and every sentence end is predicted
  io.out(`# total: ${lines.length} sentences, ${words} words, ${oovTotal} OOVs, logprob10 ${(total / LN10).toFixed(4)}, ` +
    `logprob ${total.toFixed(4)}, ppl ${n > 0 ? Math.exp(-total / n).toFixed(2) : '-'} (${flags.independent ? 'independent sentences' : 'state carried between sentences'})`);
}

/** The sentences of a text, one per line (the newline that ends the file ends the last one). */
function textSentences(file: string): string[][] {
  const lines = readText(file).split('\n').map((l) => l.trim().split(/\s+/).filter((w) => w !== ''));
  if (lines.length > 0 && lines[lines.length - 1].length === 0) lines.pop();
  return lines;
}

/** The sentences of a prepared dataset's split: its words between <eos> tokens. */
function datasetSentences(dir: string, split: 'train' | 'valid' | 'test'): string[][] {
  const ds = openDataset(dir);
  const lines: string[][] = [[]];
  forEachBlock(ds.split(split), (ids) => {
    for (const id of ids) {
      const w = ds.vocab.words[id];
      if (w === EOS) lines.push([]);
      else lines[lines.length - 1].push(w);
    }
  });
  if (lines[lines.length - 1].length === 0) lines.pop();
  return lines;
}

export function scoreCommand(run: (model: string, file: string, flags: ScoreFlags) => Promise<void>): Command {
  return new Command('score')
    .description('Score sentences (one per line): log-probability (log10 and natural), words, out-of-vocabulary words and perplexity of each, and of the whole input')
    .argument('<weights>', 'a .safetensors file written by rnnlm train --save')
    .argument('[file]', 'the sentences, one per line (- or nothing: standard input)', '-')
    .option('--data <dir>', 'score the sentences of a prepared dataset\'s split instead of a file')
    .addOption(new Option('--split <name>', 'the split of --data').choices(['train', 'valid', 'test']).default('test'))
    .option('--words', 'also print every word\'s log-probability (lines starting with #)')
    .option('--independent', 'start every sentence from a zero state (and score them in batches) instead of carrying the state')
    .addOption(new Option('--backend <name>', 'arithmetic backend').choices(BACKEND_NAMES))
    .option('--data-dir <dir>', 'folder with the PTB files (for weights without a vocabulary)')
    .addHelpText('after', `
Each sentence is read after <eos> and scored up to and including its own <eos>; words outside the vocabulary are
scored as <unk> and counted as OOVs. ppl = exp(-logprob / (words + 1)).

Examples:
  $ rnnlm score model.safetensors sentences.txt
  $ echo "the company said it expects higher earnings" | rnnlm score model.safetensors --words
  $ rnnlm score model.safetensors nbest.txt --independent
  $ rnnlm score mine.safetensors --data data/mine --split test`)
    .action(async (model: string, file: string, opts: ScoreFlags) => run(model, file, opts));
}
