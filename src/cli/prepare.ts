/** `rnnlm prepare`: text files -> a dataset folder that `rnnlm train --data` reads (src/data/prepare.ts). */
import { Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { BACKEND_NAMES, type BackendName } from '../backend';
import { prepareDataset, type PrepareOptions } from '../data/prepare';
import { positiveInt } from './args';
import { pickBackend, type Io } from './io';

export interface PrepareFlags {
  out: string;
  valid?: string[];
  test?: string[];
  vocabSize?: number;
  minCount?: number;
  vocab?: string;
  backend?: BackendName;
}

const MB = 1e6;

/** On a terminal, a bar with MB/s, tokens and the ETA (when the size is known); elsewhere nothing until the summary. */
function progressBar(): { update: NonNullable<PrepareOptions['onProgress']>; stop(): void } {
  let bar: SingleBar | undefined, split = '', t0 = 0;
  const stop = (): void => {
    bar?.stop();
    bar = undefined;
  };
  return {
    update(p) {
      if (!process.stderr.isTTY) return;
      if (p.split !== split || !bar) {
        stop();
        split = p.split;
        t0 = performance.now();
        const known = p.total !== undefined;
        bar = new SingleBar({
          stream: process.stderr, clearOnComplete: true, hideCursor: true, fps: 5, barsize: 24,
          format: `${p.split} ${known ? '{bar} {percentage}% | ' : ''}{mb} MB | {mbs} MB/s | {tokens} tokens${known ? ' | ETA {eta_formatted}' : ''}`,
        });
        bar.start(known ? p.total! : 1, 0, { mb: '0', mbs: '-', tokens: 0 });
      }
      const s = (performance.now() - t0) / 1000;
      bar.update(p.total !== undefined ? p.bytes : 0, {
        mb: (p.bytes / MB).toFixed(0), mbs: s > 0 ? (p.bytes / MB / s).toFixed(0) : '-', tokens: p.tokens,
      });
    },
    stop,
  };
}

export async function prepare(train: string[], flags: PrepareFlags, io: Io): Promise<void> {
  const backend = pickBackend(flags.backend, io.err);
  const bar = progressBar();
  const t0 = performance.now();
  let result;
  try {
    result = await prepareDataset({
      train, valid: flags.valid, test: flags.test, out: flags.out, vocabSize: flags.vocabSize, minCount: flags.minCount, vocab: flags.vocab,
      backend, onProgress: bar.update,
    });
  } finally {
    bar.stop();
  }
  const s = (performance.now() - t0) / 1000;
  const bytes = Object.values(result.splits).reduce((sum, r) => sum + r.bytes, 0);
  const splits = Object.entries(result.splits).map(([name, r]) => `${name} ${r.tokens} tokens (${r.unknown} <unk>)`).join(', ');
  io.out(`rnnlm: prepared ${flags.out}: vocabulary ${result.vocabSize} words; ${splits}; ${(bytes / MB).toFixed(1)} MB of text in ${s.toFixed(2)} s ` +
    `(${(bytes / MB / Math.max(s, 1e-9)).toFixed(0)} MB/s, backend ${backend.name})`);
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function prepareCommand(run: (train: string[], flags: PrepareFlags) => Promise<void>): Command {
  return new Command('prepare')
    .description('Prepare your own text once for training: a vocabulary and token files in a folder that train, eval and score read with --data')
    .argument('<train...>', "training text: files, folders (every file below them) or - for standard input; gzip files are read as text")
    .requiredOption('-o, --out <dir>', 'the dataset folder to write (made when missing)')
    .option('--valid <file>', 'validation text, numbered with the training vocabulary (repeat for several files)', collect)
    .option('--test <file>', 'test text, numbered with the training vocabulary (repeat for several files)', collect)
    .option('--vocab-size <n>', 'keep the n most frequent entries (<eos> and <unk> among them); the rest become <unk>', positiveInt)
    .option('--min-count <c>', 'words seen fewer than c times in the training text become <unk>', positiveInt)
    .option('--vocab <file>', "number the text with this vocabulary (another dataset's vocab.txt) instead of making one")
    .addOption(new Option('--backend <name>', 'native counts on two threads (default when built); js is the fallback').choices(BACKEND_NAMES))
    .addHelpText('after', `
Words are separated by white space and every line end is an <eos>, as in the book; the text is UTF-8.
vocab.txt lists one word and its training count per line, most frequent first: the line number is the id.

Examples:
  $ rnnlm prepare corpus.txt --valid valid.txt --test test.txt -o data/mine
  $ rnnlm prepare big/ --vocab-size 100000 -o data/big          # every file in big/, .gz too
  $ zcat dump.gz | rnnlm prepare - --min-count 3 -o data/dump
  $ rnnlm prepare new.txt --vocab data/mine/vocab.txt -o data/new # numbered as data/mine
  $ rnnlm train --data data/mine --preset rnn-ptb-fast --test`)
    .action(async (train: string[], opts: PrepareFlags) => run(train, opts));
}
