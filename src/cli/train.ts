import * as fs from 'node:fs';
import { Command, Option } from 'commander';
import { BACKEND_NAMES, nativeUnavailableReason, resolveBackend, type Backend, type BackendName } from '../backend';
import { loadPtb } from '../data/ptb';
import { SimpleRnnlm } from '../model';
import { SGD } from '../optimizer';
import { autoWorkers } from '../parallel/engine';
import { RnnlmTrainer, type EpochReport } from '../trainer';
import { loadWeightsInto, readWeights, saveWeights } from '../weights';
import { positiveInt, nonNegativeInt, positiveNumber, seedInt, UsageError, workersArg } from './args';

export interface TrainFlags {
  corpusSize: number;
  batchSize: number;
  timeSize: number;
  wordvecSize: number;
  hiddenSize: number;
  lr: number;
  maxEpoch: number;
  maxGrad?: number;
  seed: number;
  init?: string;
  save?: string;
  log?: string;
  backend?: BackendName;
  dataDir?: string;
  workers: number | 'auto';
  blasThreads?: number;
}

/** The backend asked for, or the best available with a one-line notice when native is missing. */
export function pickBackend(name: BackendName | undefined, warn: (line: string) => void): Backend {
  if (name !== undefined) return resolveBackend(name);
  const reason = nativeUnavailableReason();
  if (reason !== undefined) warn(`rnnlm: using the js backend: ${reason.split('\n')[0]}`);
  return resolveBackend();
}

function fmt(x: number, digits = 2): string {
  return x.toFixed(digits);
}

export async function train(flags: TrainFlags, out: (line: string) => void, err: (line: string) => void): Promise<void> {
  const backend = pickBackend(flags.backend, err);
  const data = await loadPtb('train', { dir: flags.dataDir });
  let corpus = data.corpus;
  if (flags.corpusSize > 0) {
    if (flags.corpusSize > corpus.length) {
      throw new UsageError(`--corpus-size ${flags.corpusSize} exceeds the ${corpus.length} tokens of ptb.train.txt`);
    }
    corpus = corpus.subarray(0, flags.corpusSize);
  }
  if (corpus.length < 2) throw new UsageError('--corpus-size must be at least 2 (an input and a target)');
  let vocabSize = 0;
  for (const id of corpus) vocabSize = Math.max(vocabSize, id + 1);
  const xs = corpus.subarray(0, corpus.length - 1);
  const ts = corpus.subarray(1);
  const { batchSize, timeSize } = flags;
  if (batchSize * timeSize > xs.length) {
    throw new UsageError(
      `--batch-size ${batchSize} x --time-size ${timeSize} = ${batchSize * timeSize} exceeds the ${xs.length} training positions of --corpus-size ${corpus.length}`,
    );
  }

  let model: SimpleRnnlm;
  if (flags.init !== undefined) {
    const w = readWeights(flags.init);
    if (w.wordvecSize !== flags.wordvecSize || w.hiddenSize !== flags.hiddenSize) {
      throw new UsageError(
        `--init ${flags.init} has wordvec size ${w.wordvecSize} and hidden size ${w.hiddenSize}, but --wordvec-size is ${flags.wordvecSize} and --hidden-size ${flags.hiddenSize}`,
      );
    }
    if (w.vocabSize < vocabSize) {
      throw new UsageError(`--init ${flags.init} has a vocabulary of ${w.vocabSize} words but the corpus needs ${vocabSize}`);
    }
    vocabSize = w.vocabSize;
    model = new SimpleRnnlm(vocabSize, w.wordvecSize, w.hiddenSize, { backend, seed: flags.seed });
    loadWeightsInto(model, w, flags.init);
  } else {
    model = new SimpleRnnlm(vocabSize, flags.wordvecSize, flags.hiddenSize, { backend, seed: flags.seed });
  }
  const optimizer = new SGD(flags.lr, { backend });
  const trainer = new RnnlmTrainer(model, optimizer);

  const iters = Math.floor(xs.length / (batchSize * timeSize));
  out(
    `rnnlm: corpus ${corpus.length} tokens, vocabulary ${vocabSize}, batch ${batchSize} x time ${timeSize}, ` +
    `wordvec ${model.wordvecSize}, hidden ${model.hiddenSize}, lr ${flags.lr}, ${flags.maxEpoch} epochs of ${iters} iterations, ` +
    `backend ${backend.name}, workers ${flags.workers === 'auto' ? `auto (${autoWorkers(model, batchSize, timeSize)})` : flags.workers}`,
  );
  if (flags.log !== undefined) fs.writeFileSync(flags.log, '');
  if (flags.workers !== 'auto' && flags.workers > batchSize) {
    throw new UsageError(`--workers ${flags.workers} exceeds --batch-size ${batchSize}: each worker needs a batch row`);
  }
  if (flags.blasThreads !== undefined && backend.name !== 'native') {
    throw new UsageError('--blas-threads needs the native backend');
  }
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const reports: EpochReport[] = await trainer.fit(xs, ts, {
    maxEpoch: flags.maxEpoch, batchSize, timeSize, maxGrad: flags.maxGrad,
    workers: flags.workers, blasThreads: flags.blasThreads, signal: stop.signal,
    onEpoch: (r) => {
      out(`| epoch ${r.epoch} | perplexity ${fmt(r.ppl)} |`);
      if (flags.log !== undefined) {
        fs.appendFileSync(flags.log, JSON.stringify({
          epoch: r.epoch, ppl: r.ppl, tokens_per_s: Math.round(r.tokensPerS), elapsed_s: +r.elapsedS.toFixed(3),
        }) + '\n');
      }
    },
  }).finally(() => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
  const last = reports[reports.length - 1];
  const tokens = flags.maxEpoch * iters * batchSize * timeSize;
  out(
    `rnnlm: trained ${flags.maxEpoch} epochs (${tokens} tokens) in ${fmt(last.elapsedS)} s, ` +
    `${Math.round(tokens / Math.max(1e-9, last.elapsedS))} tokens/s; final perplexity ${fmt(last.ppl)}`,
  );
  if (flags.save !== undefined) {
    saveWeights(flags.save, model, data.idToWord.slice(0, vocabSize));
    out(`rnnlm: saved weights to ${flags.save}`);
  }
}

export function trainCommand(run: (flags: TrainFlags) => Promise<void>): Command {
  return new Command('train')
    .description('Train a SimpleRnnlm on Penn Treebank. With no flags: the seed configuration of the book (chapter 5).')
    .option('--corpus-size <n>', 'use the first n tokens of ptb.train.txt (0 = the whole split)', nonNegativeInt, 1000)
    .option('--batch-size <n>', 'rows per batch (N)', positiveInt, 10)
    .option('--time-size <n>', 'time steps per batch, the truncated-BPTT window (T)', positiveInt, 5)
    .option('--wordvec-size <n>', 'word vector size (D)', positiveInt, 100)
    .option('--hidden-size <n>', 'hidden state size (H)', positiveInt, 100)
    .option('--lr <x>', 'SGD learning rate', positiveNumber, 0.1)
    .option('--max-epoch <n>', 'epochs to train', positiveInt, 100)
    .option('--max-grad <x>', 'clip the global gradient norm to x (default: no clipping)', positiveNumber)
    .option('--seed <n>', 'seed of the weight initialisation', seedInt, 0)
    .option('--init <file>', 'start from these weights (.safetensors) instead of a random initialisation')
    .option('--save <file>', 'write the trained weights and vocabulary to this .safetensors file')
    .option('--log <file>', 'write one JSON object per epoch (epoch, ppl, tokens_per_s, elapsed_s) to this .jsonl file')
    .addOption(new Option('--backend <name>', 'arithmetic backend (default: native when built, else js)').choices(BACKEND_NAMES))
    .option('--workers <n|auto>', 'worker threads that split every batch by rows; auto: serial for small models, else one per core', workersArg, 'auto')
    .option('--blas-threads <n>', 'OpenBLAS threads while training with workers (default: cores / workers)', positiveInt)
    .option('--data-dir <dir>', 'folder with ptb.{train,valid,test}.txt (default: $PTB_DIR, else ~/.cache/rnnlm/ptb)')
    .addHelpText('after', `
Examples:
  $ rnnlm train                                  # the seed configuration: 1000 tokens, 100 epochs
  $ rnnlm train --max-epoch 10 --log run.jsonl --save model.safetensors
  $ rnnlm train --corpus-size 0 --batch-size 20 --time-size 35 --max-epoch 4 --max-grad 0.25
  $ rnnlm train --init weights.safetensors --backend js
  $ rnnlm train --corpus-size 0 --batch-size 20 --time-size 35 --workers 2 --blas-threads 1`)
    .action(async (opts: TrainFlags) => run(opts));
}
