import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { writeFileAtomic } from '../atomic';
import type { Backend } from '../backend';
import { DEFAULT_OUTPUT, headKind, headOfOption, type HeadKind } from '../heads';
import type { HeadOptions } from '../heads/types';
import { flagOf } from '../options';
import { ALL_RUN_OPTIONS, HEAD_RUN_OPTIONS } from '../run-options';
import { LanguageModel } from '../model';
import { SGD } from '../optimizer';
import { autoWorkers } from '../parallel/engine';
import { launchedByMpi, mpiWorld } from '../distributed';
import { checkRowShare, checkSameOnRanks, machineFirst, processShare, type Communicator } from '../ranks';
import { PlateauSchedule } from '../schedule';
import { evalPerplexity, RnnlmTrainer, TrainingInterruptedError, type EpochReport, type TrainerState } from '../trainer';
import { loadWeightsInto, modelFromWeights, readWeights, saveWeights } from '../weights';
import { sliceSource, type TokenSource } from '../data/tokens';
import { commanderOptions, UsageError } from './args';
import { readCheckpoint, saveCheckpoint, type Checkpoint } from './checkpoint';
import { PRESET_NAMES, PRESETS } from './presets';
import { checkResumeFlags, configFromFlags, type RunConfig, type TrainFlags } from './run-config';
import { loadRunData } from './corpus';
import { Interrupted, pickBackend, type Io } from './io';
import type { EpochRecord, LogRecord } from './history';
import { perplexitySvg } from './plot';
import { barProgress, plainProgress, type Progress } from './progress';

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** Every file the run will write: its folder must exist and be writable before the first iteration. */
function checkOutputs(outputs: [string, string | undefined][]): void {
  for (const [flag, file] of outputs) {
    if (file === undefined) continue;
    const dir = path.dirname(path.resolve(file));
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch {
      throw new UsageError(`${flag} ${file}: the folder ${dir} does not exist`);
    }
    if (!st.isDirectory()) throw new UsageError(`${flag} ${file}: ${dir} is not a folder`);
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch {
      throw new UsageError(`${flag} ${file}: the folder ${dir} is not writable`);
    }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UsageError(`${flag} ${file} is a folder, not a file`);
  }
}

/** `rnnlm train`: a new run from flags, or a run resumed from a checkpoint. */
export async function train(flags: TrainFlags, explicit: Set<string>, io: Io): Promise<void> {
  const ckpt = flags.resume !== undefined ? readCheckpoint(flags.resume) : undefined;
  const ranks = launchedByMpi() ? mpiWorld(flags.exchangeTimeout) : undefined;
  const writes = !ranks || ranks.rank === 0;
  const config = rankConfig(ckpt ? resumedConfig(flags, explicit, ckpt) : newRunConfig(flags, explicit), ranks);
  if (ckpt && ckpt.trainer.epoch > config.maxEpoch) {
    io.out(`rnnlm: ${flags.resume} has finished ${ckpt.trainer.epoch - 1} epochs; nothing to do (raise --max-epoch to train more)`);
    return;
  }
  if (writes) {
    checkOutputs([['--save', config.save], ['--save-best', config.saveBest], ['--log', config.log], ['--plot', config.plot],
      ['--checkpoint', flags.checkpoint ?? flags.resume]]);
  }
  const backend = pickBackend(flags.backend, io.err, config.precision ?? 'fp32');
  if (backend.name === 'native' && backend.precision === 'bf16' && backend.bf16Engine === 'emulated') {
    io.err('rnnlm: bf16 products are emulated (the native addon was built without oneDNN: install libdnnl-dev and run npm run build:native)');
  }
  // --init weights are read first: their output layer decides how the data is numbered.
  const initWeights = !ckpt && flags.init !== undefined ? readWeights(flags.init) : undefined;
  const load = (): Promise<RunData> => runData(config, flags, io, backend, headKind((initWeights?.config ?? ckpt?.weights.config ?? config).output ?? DEFAULT_OUTPUT));
  const data = ranks ? await machineFirst(ranks, load) : await load();
  if (ckpt && data.fingerprint !== ckpt.config.fingerprint) {
    throw new UsageError(`${flags.resume} was made on other training data than ${data.describe} now holds`);
  }
  config.fingerprint = data.fingerprint;
  if (ranks) {
    const hash = parseInt(createHash('sha256').update(data.fingerprint).digest('hex').slice(0, 12), 16);
    checkSameOnRanks(ranks, { 'training data with hash': hash }, 'every rank must read the same data (a shared folder, or the same copy on every machine)');
  }
  const { xs, ts } = trainingPairs(data, config, flags, backend, ranks);
  const model = ckpt ? modelFromWeights(ckpt.weights, { backend, seed: config.seed }, flags.resume)
    : initWeights ? modelFromInit(initWeights, config, flags, explicit, data, backend) : newModel(config, data, backend);
  if (ckpt?.state) model.setState(ckpt.state);
  const run = new TrainingRun(config, flags, io, model, data, ckpt, ranks);
  await run.fit(xs, ts);
  await run.finish();
}

/**
 * Under mpirun, every rank trains its rows of each batch (distributed.ts), and rank 0 alone writes: the others
 * keep the run's configuration without its output files.
 */
function rankConfig(config: RunConfig, ranks: Communicator | undefined): RunConfig {
  if (!ranks || ranks.rank === 0) return config;
  return { ...config, log: undefined, plot: undefined, save: undefined, saveBest: undefined, test: false };
}

/** A resumed run's configuration: the checkpoint's, with a new --max-epoch if given. */
function resumedConfig(flags: TrainFlags, explicit: Set<string>, ckpt: Checkpoint): RunConfig {
  checkResumeFlags(flags, explicit, ckpt.config, flags.resume!);
  return { ...ckpt.config, maxEpoch: explicit.has('maxEpoch') ? flags.maxEpoch : ckpt.config.maxEpoch };
}

/** A new run's configuration, after the checks of flags that need or exclude one another. */
function newRunConfig(flags: TrainFlags, explicit: Set<string>): RunConfig {
  if ((flags.saveBest !== undefined || flags.lrDecay !== undefined || flags.earlyStop) && !flags.valid) {
    const flag = flags.saveBest !== undefined ? 'saveBest' : flags.lrDecay !== undefined ? 'lrDecay' : 'earlyStop';
    const name = { saveBest: '--save-best', lrDecay: '--lr-decay', earlyStop: '--early-stop' }[flag];
    // A preset's schedule the user did not ask for by name: say where it comes from and how to turn it off.
    const fromPreset = !explicit.has(flag) && flags.preset !== undefined;
    throw new UsageError(fromPreset ? `${name} (set by --preset ${flags.preset}) needs validation: drop --no-valid` : `${name} needs --valid`);
  }
  if (flags.earlyStop && flags.saveBest === undefined) {
    throw new UsageError('--early-stop needs --save-best: the best weights are restored from it when training ends');
  }
  if (flags.test && flags.text !== undefined) throw new UsageError('--test reports on ptb.test.txt; for your own text prepare it with rnnlm prepare --test and train with --data');
  if (flags.data !== undefined) {
    for (const [k, flag] of [['text', '--text'], ['validText', '--valid-text'], ['corpusSize', '--corpus-size'], ['fullVocab', '--full-vocab'], ['dataDir', '--data-dir']] as const) {
      if (explicit.has(k)) throw new UsageError(`${flag} does not go with --data (the dataset holds the training, validation and test splits)`);
    }
  }
  if (flags.validText !== undefined && flags.text === undefined) throw new UsageError('--valid-text needs --text');
  if (flags.text !== undefined && explicit.has('corpusSize')) throw new UsageError('--corpus-size applies to PTB, not --text');
  if (flags.text !== undefined && flags.fullVocab) throw new UsageError('--full-vocab applies to PTB, not --text');
  checkOutputFlags(flags, explicit);
  return configFromFlags(flags);
}

/** The output head's flags agree with --output (and --tied with the head and the sizes). */
function checkOutputFlags(flags: TrainFlags, explicit: Set<string>): void {
  for (const option of HEAD_RUN_OPTIONS) {
    const owner = headOfOption(option.key)!;
    if (explicit.has(option.key) && flags.output !== owner.name) throw new UsageError(`${flagOf(option.key)} needs --output ${owner.name}`);
  }
  const head = headKind(flags.output);
  if (flags.tied && head.untied) throw new UsageError(`--tied does not go with --output ${head.name} (${head.untied})`);
  if (flags.tied && flags.init === undefined && flags.wordvecSize !== flags.hiddenSize) {
    throw new UsageError(`--tied needs --wordvec-size = --hidden-size (the output layer reuses the embedding), but they are ${flags.wordvecSize} and ${flags.hiddenSize}`);
  }
}

type RunData = Awaited<ReturnType<typeof loadRunData>>;

/** The run's data, numbered as its output head needs (a class output: class by class). */
async function runData(config: RunConfig, flags: TrainFlags, io: Io, backend: Backend, head: HeadKind): Promise<RunData> {
  const data = await loadRunData(config.data, {
    // Exchange classes take a while on a large vocabulary: their passes are reported on a terminal.
    valid: config.valid, test: config.test, dataDir: flags.dataDir, onProgress: process.stderr.isTTY ? io.err : undefined, backend,
    classes: head.numbering?.(config),
  });
  if (config.test && !data.test) throw new UsageError(`--test: ${data.describe} has no test split (prepare one with rnnlm prepare ... --test FILE)`);
  return data;
}

/** Inputs and targets of the training split, checked against the batch shape, the workers and the backend. */
function trainingPairs(data: RunData, config: RunConfig, flags: TrainFlags, backend: Backend, ranks?: Communicator): { xs: TokenSource; ts: TokenSource } {
  const xs = sliceSource(data.train, 0, data.train.length - 1);
  const ts = sliceSource(data.train, 1, data.train.length - 1);
  const { batchSize, timeSize } = config;
  if (batchSize * timeSize > xs.length) {
    throw new UsageError(
      `--batch-size ${batchSize} x --time-size ${timeSize} = ${batchSize * timeSize} exceeds the ${xs.length} training positions of ${data.train.length} tokens`,
    );
  }
  try {
    checkRowShare(batchSize, flags.workers === 'auto' ? 1 : flags.workers, ranks, flagOf);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (flags.blasThreads !== undefined && backend.name !== 'native') throw new UsageError('--blas-threads needs the native backend');
  return { xs, ts };
}

/** A model with the book's initialisation, of the configured architecture over the data's vocabulary. */
function newModel(config: RunConfig, data: RunData, backend: Backend): LanguageModel {
  const V = data.vocabSize;
  return new LanguageModel({
    cell: config.cell, layers: config.numLayers, vocabSize: V, wordvecSize: config.wordvecSize, hiddenSize: config.hiddenSize,
    dropout: config.dropout, tied: config.tied, output: config.output,
    ...headKind(config.output ?? DEFAULT_OUTPUT).fromData(data, config),
  }, { backend, seed: config.seed, weightInit: config.weightInit });
}

/**
 * A model from --init weights: the architecture comes from the file, and flags given explicitly must agree with it
 * (dropout is the run's); the config takes the file's values.
 */
function modelFromInit(w: ReturnType<typeof readWeights>, config: RunConfig, flags: TrainFlags, explicit: Set<string>, data: RunData, backend: Backend): LanguageModel {
  const file = w.config;
  const agree: [string, string, keyof RunConfig, string | number | boolean, string][] = [
    ['--model', 'model', 'cell', file.cell, `model ${file.cell}`],
    ['--num-layers', 'numLayers', 'numLayers', file.layers, `${file.layers} layer(s)`],
    ['--tied', 'tied', 'tied', file.tied, file.tied ? 'tied weights' : 'untied weights'],
    ['--wordvec-size', 'wordvecSize', 'wordvecSize', file.wordvecSize, `wordvec size ${file.wordvecSize}`],
    ['--hidden-size', 'hiddenSize', 'hiddenSize', file.hiddenSize, `hidden size ${file.hiddenSize}`],
  ];
  for (const [flag, flagKey, key, value, what] of agree) {
    if (explicit.has(flagKey) && config[key] !== value) throw new UsageError(`--init ${flags.init} has ${what}, but ${flag} is ${String(config[key])}`);
    (config as unknown as Record<string, unknown>)[key] = value;
  }
  if (w.vocabSize < data.vocabSize) {
    throw new UsageError(`--init ${flags.init} has a vocabulary of ${w.vocabSize} words but the corpus needs ${data.vocabSize}`);
  }
  const numbering = headKind(file.output).numbering?.(config);
  if (numbering && w.vocab && w.vocab.some((word, i) => word !== data.vocab[i])) {
    throw new UsageError(`--init ${flags.init} has a ${file.output} output layer over another word numbering than this run's data ` +
      `(class by class, --class-method ${numbering.method})`);
  }
  if (explicit.has('output') && config.output !== file.output) throw new UsageError(`--init ${flags.init} has output ${file.output}, but --output is ${config.output}`);
  config.output = file.output;
  if (!explicit.has('dropout')) config.dropout = file.dropout; // the file's training recipe, unless told otherwise
  return modelFromWeights(w, { backend, seed: config.seed, dropout: config.dropout }, flags.init);
}

/**
 * One training run of the CLI around RnnlmTrainer.fit: the first line, the progress display, the log (JSON lines
 * mirroring `history`), the plot, checkpoints, Ctrl-C, and the end (best weights, --save, --test).
 */
class TrainingRun {
  readonly optimizer: SGD;
  readonly trainer: RnnlmTrainer;
  readonly schedule: PlateauSchedule;
  readonly history: LogRecord[];
  readonly vocab?: string[];
  readonly checkpointFile?: string;
  readonly progress: Progress;

  constructor(readonly config: RunConfig, readonly flags: TrainFlags, readonly io: Io, readonly model: LanguageModel,
    readonly data: RunData, readonly ckpt?: Checkpoint, readonly ranks?: Communicator) {
    this.vocab = model.vocabSize === data.vocab.length ? data.vocab : undefined;
    this.optimizer = new SGD(ckpt?.lr ?? flags.lr, { backend: model.backend });
    this.trainer = new RnnlmTrainer(model, this.optimizer);
    // The learning rate has been decayed when it is below the run's first one.
    this.schedule = new PlateauSchedule(
      { lrDecay: config.lrDecay, minImprovement: config.minImprovement, earlyStop: config.earlyStop },
      { best: ckpt?.bestValPpl, decayed: ckpt !== undefined && config.lr !== undefined && ckpt.lr < config.lr });
    this.history = ckpt ? [...ckpt.history] : [];
    this.checkpointFile = ranks && ranks.rank !== 0 ? undefined : flags.checkpoint ?? (ckpt ? flags.resume : undefined);
    // mpirun hands its ranks a terminal of its own, whatever mpirun's output goes to: lines, not a bar.
    this.progress = !ranks && process.stdout.isTTY ? barProgress(config.maxEpoch) : plainProgress(io.out);
    this.progress.line(this.firstLine());
    this.openLog();
  }

  private get iters(): number {
    return Math.floor((this.data.train.length - 1) / (this.config.batchSize * this.config.timeSize));
  }

  private firstLine(): string {
    const { config, flags, ckpt, model, data, optimizer, ranks } = this, { batchSize, timeSize } = config, backend = model.backend;
    const { rows, cores } = processShare(batchSize, ranks);
    const workers = flags.workers === 'auto' ? `auto (${autoWorkers(model, rows[1] - rows[0], timeSize, cores)})` : String(flags.workers);
    return `rnnlm: ${ckpt ? `resuming ${flags.resume} at epoch ${ckpt.trainer.epoch}, iteration ${ckpt.trainer.iter + 1}; ` : ''}` +
      `corpus ${data.describe}, ${data.train.length} tokens, vocabulary ${model.vocabSize}, batch ${batchSize} x time ${timeSize}, ` +
      `model ${describeModel(model, config)}, ` +
      `lr ${optimizer.lr}, ${config.maxEpoch} epochs of ${this.iters} iterations, ` +
      `backend ${backend.name}${backend.precision === 'bf16' ? ` (bf16 products, ${backend.bf16Engine})` : ''}, ` +
      (ranks ? `${ranks.size} ranks (MPI), workers ${workers} per rank` : `workers ${workers}`);
  }

  /** The log mirrors `history`: a resumed run first cuts it back to what the checkpoint knew. */
  private openLog(): void {
    const { log } = this.config;
    if (log === undefined) return;
    if (!this.ckpt) {
      fs.writeFileSync(log, '');
      return;
    }
    if (fileSize(log) < this.ckpt.logBytes) throw new UsageError(`${log} is shorter than when ${this.flags.resume} was written`);
    fs.truncateSync(log, this.ckpt.logBytes);
  }

  private record(r: LogRecord): void {
    this.history.push(r);
    if (this.config.log !== undefined) fs.appendFileSync(this.config.log, JSON.stringify(r) + '\n');
  }

  private writePlot(): void {
    if (this.config.plot !== undefined && this.history.length > 0) writeFileAtomic(this.config.plot, perplexitySvg(this.history));
  }

  private writeCheckpoint(state = this.trainer.state()): void {
    const { checkpointFile, config } = this;
    if (checkpointFile === undefined || state === undefined) return;
    saveCheckpoint(checkpointFile, this.model, {
      config, trainer: state, lr: this.optimizer.lr, bestValPpl: this.schedule.best, vocab: this.vocab ?? [], history: this.history,
      logBytes: config.log !== undefined ? fileSize(config.log) : 0,
    });
  }

  private evalShape(): [number, number] {
    return [this.config.evalBatchSize ?? this.flags.evalBatchSize, this.config.evalTimeSize ?? this.flags.evalTimeSize];
  }

  /** Trains; an interrupted run saves its checkpoint (or, without one, its weights) and ends with Interrupted. */
  async fit(xs: TokenSource, ts: TokenSource): Promise<void> {
    const { config, flags, data } = this;
    const signals = stopOnSignals(this.io);
    const [evalBatch, evalTime] = this.evalShape();
    try {
      await this.trainer.fit(xs, ts, {
        maxEpoch: config.maxEpoch, batchSize: config.batchSize, timeSize: config.timeSize, maxGrad: config.maxGrad, evalInterval: config.evalInterval,
        workers: flags.workers, blasThreads: flags.blasThreads, signal: signals.signal, resume: this.ckpt?.trainer, maxIters: flags.maxIters, ranks: this.ranks,
        validation: data.valid && { corpus: data.valid, batchSize: evalBatch, timeSize: evalTime, schedule: this.schedule },
        onStep: (p) => this.progress.step(p, config.batchSize * config.timeSize),
        onReport: (r) => {
          this.progress.report(r);
          this.record({ type: 'iter', epoch: r.epoch, iter: r.iter, iters: r.iters, ppl: r.ppl, tokens_per_s: Math.round(r.tokensPerS), elapsed_s: +r.elapsedS.toFixed(3) });
        },
        onEpoch: (r) => this.endEpoch(r),
      });
    } catch (e) {
      this.progress.stop();
      if (e instanceof TrainingInterruptedError) this.interrupted(e);
      throw e;
    } finally {
      signals.dispose();
    }
    this.progress.stop();
  }

  /** An epoch's line, log record, best weights, plot and checkpoint. */
  private endEpoch(r: EpochReport): void {
    let line = `| epoch ${r.epoch} | perplexity ${r.ppl.toFixed(2)} |`;
    if (r.valPpl !== undefined) {
      line += ` valid perplexity ${r.valPpl.toFixed(2)} |`;
      if (r.best && this.config.saveBest !== undefined) {
        saveWeights(this.config.saveBest, this.model, this.vocab);
        line += ' saved best |';
      }
      if (r.stopping) line += ' stopping early |';
      else if (r.nextLr !== r.lr) line += ` lr ${r.lr} -> ${r.nextLr} |`;
    }
    this.progress.line(line);
    this.record({
      type: 'epoch', epoch: r.epoch, ppl: r.ppl, ...(r.valPpl !== undefined && { val_ppl: r.valPpl }), lr: r.lr,
      tokens_per_s: Math.round(r.tokensPerS), elapsed_s: +r.elapsedS.toFixed(3),
    });
    this.writePlot();
    this.writeCheckpoint();
  }

  private interrupted(e: TrainingInterruptedError): never {
    const { checkpointFile, config } = this;
    if (this.ranks && this.ranks.rank !== 0) throw new Interrupted(''); // rank 0 says it
    this.writeCheckpoint(e.state);
    this.writePlot();
    // Without a checkpoint, the trained weights still go where --save said.
    const saved = checkpointFile === undefined && config.save !== undefined;
    if (saved) saveWeights(config.save!, this.model, this.vocab);
    throw new Interrupted(
      `${e.message}${checkpointFile ? `; checkpoint saved to ${checkpointFile} (continue with: rnnlm train --resume ${checkpointFile})` : ''}` +
      `${saved ? `; weights saved to ${config.save}` : ''}`,
    );
  }

  /** The closing lines: how the run ended, the best weights restored after an early stop, --save and --test. */
  async finish(): Promise<void> {
    const { config, io, model } = this;
    const st = this.trainer.state()!;
    io.out(this.endLine(st));
    const traffic = this.trainer.traffic;
    if (this.ranks && traffic && traffic.steps > 0) {
      io.out(`rnnlm: ${this.ranks.size} ranks exchanged ${(traffic.bytes / traffic.steps / 1e6).toFixed(3)} MB per step from each rank, ` +
        `${(traffic.ms / traffic.steps).toFixed(2)} ms per step`);
    }
    // The best epoch, from the history (which a checkpoint carries across a resume).
    const validated = this.history.filter((r): r is EpochRecord => r.type === 'epoch' && r.val_ppl !== undefined);
    const best = validated.length > 0 ? validated.reduce((b, r) => (r.val_ppl! < b.val_ppl! ? r : b)) : undefined;
    if (config.earlyStop && config.saveBest !== undefined && best !== undefined && best.epoch !== st.epoch - 1) {
      loadWeightsInto(model, readWeights(config.saveBest), config.saveBest);
      io.out(`rnnlm: restored the best weights (epoch ${best.epoch}) from ${config.saveBest}`);
    }
    if (config.save !== undefined) {
      saveWeights(config.save, model, this.vocab);
      io.out(`rnnlm: saved weights to ${config.save}`);
    }
    if (config.test) {
      const testIds = await this.data.test!();
      const testPpl = evalPerplexity(model, testIds, ...this.evalShape());
      io.out(`rnnlm: test perplexity ${testPpl.toFixed(2)} (${config.data.kind === 'dataset' ? `${config.data.dir} test split` : 'ptb.test.txt'}, ${testIds.length} tokens)`);
    }
  }

  private endLine(st: TrainerState): string {
    const { config, schedule, history } = this;
    if (this.trainer.stoppedEarly) {
      return `rnnlm: stopped early after epoch ${st.epoch - 1}: validation did not improve${schedule.decayed ? ' after the learning rate was decayed' : ''}; ` +
        `best valid perplexity ${schedule.best!.toFixed(2)}`;
    }
    if (st.epoch <= config.maxEpoch) {
      // --max-iters ended the run before its epochs.
      const lastReport = history.filter((r) => r.type === 'iter').pop();
      return `rnnlm: stopped after ${this.flags.maxIters} iterations (--max-iters) at epoch ${st.epoch}, iteration ${st.iter}` +
        `${lastReport ? `; running perplexity ${lastReport.ppl.toFixed(2)}` : ''}`;
    }
    const last = history.filter((r) => r.type === 'epoch').pop();
    const tokens = config.maxEpoch * this.iters * config.batchSize * config.timeSize;
    return `rnnlm: trained ${config.maxEpoch} epochs (${tokens} tokens) in ${st.elapsedS.toFixed(2)} s, ` +
      `${Math.round(tokens / Math.max(1e-9, st.elapsedS))} tokens/s; final perplexity ${last ? last.ppl.toFixed(2) : '-'}` +
      (schedule.best !== undefined ? `, best valid perplexity ${schedule.best.toFixed(2)}` : '');
  }
}

/**
 * Ctrl-C (or SIGTERM) once: stop after the current iteration and save. Again while saving: say so and carry on
 * (a checkpoint half written is worth nothing). A third time: leave at once; the last complete checkpoint stays.
 */
function stopOnSignals(io: Io): { signal: AbortSignal; dispose(): void } {
  const stop = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals === 1) stop.abort();
    else if (signals === 2) io.err('rnnlm: stopping, please wait while the run is saved (press Ctrl-C again to quit at once)');
    else {
      io.err('rnnlm: quit without saving; the last complete checkpoint is intact');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { signal: stop.signal, dispose: () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); } };
}

/** "lstm 2x200/200, dropout 0.2, tied": the architecture in a few words, with the run's head options. */
export function describeModel(model: LanguageModel, options?: HeadOptions): string {
  const c = model.config;
  const head = headKind(c.output).describe(c, options);
  return `${c.cell} ${c.layers > 1 ? `${c.layers}x` : ''}${c.wordvecSize}/${c.hiddenSize}` +
    `${c.dropout > 0 ? `, dropout ${c.dropout}` : ''}${c.tied ? ', tied' : ''}${head ? `, ${head}` : ''}`;
}

export function trainCommand(run: (flags: TrainFlags, explicit: Set<string>) => Promise<void>): Command {
  const cmd: Command = new Command('train')
    .description('Train a recurrent language model on Penn Treebank (or your own text). With no flags: the seed configuration of the book (chapter 5).')
    .addOption(new Option('--preset <name>', `a ready-made recipe; explicit flags override it (${Object.entries(PRESETS).map(([k, p]) => `${k}: ${p.about}`).join('; ')})`).choices(PRESET_NAMES));
  for (const o of ALL_RUN_OPTIONS) for (const option of commanderOptions(o)) cmd.addOption(option);
  return cmd
    .addHelpText('after', `
Examples:
  $ rnnlm train                                  # the seed configuration: 1000 tokens, 100 epochs
  $ rnnlm train --preset ch6 --save-best lstm.safetensors     # the book's LSTM on the whole of PTB
  $ rnnlm train --preset pytorch --tied --save-best tied.safetensors --checkpoint run.ckpt
  $ rnnlm train --max-epoch 10 --log run.jsonl --plot ppl.svg --save model.safetensors
  $ rnnlm train --corpus-size 0 --batch-size 20 --time-size 35 --lr 1 --max-grad 0.25 --max-epoch 10 \\
      --valid --lr-decay 4 --save-best best.safetensors --checkpoint run.ckpt    # the plain RNN on all of PTB
  $ rnnlm train --resume run.ckpt                # after Ctrl-C: continues exactly where it stopped
  $ rnnlm train --text my-corpus.txt --valid-text my-valid.txt --valid --save mine.safetensors
  $ rnnlm train --init weights.safetensors --backend js --workers 2

With --resume, only ${ALL_RUN_OPTIONS.filter((o) => o.resumable && o.key !== 'resume').map((o) => flagOf(o.key)).join(', ')} may change.

Exit codes: 0 done, 1 error, 2 bad command line, 130 interrupted (checkpoint saved when --checkpoint is given).`)
    .action(async (opts: TrainFlags) => {
      const explicit = new Set(Object.keys(opts).filter((k) => cmd.getOptionValueSource(k) === 'cli'));
      if (opts.preset !== undefined) {
        // A preset's values replace the defaults, never a flag given on the command line.
        for (const [k, v] of Object.entries(PRESETS[opts.preset].flags)) {
          if (!explicit.has(k)) (opts as unknown as Record<string, unknown>)[k] = v;
        }
      }
      await run(opts, explicit);
    });
}
