/**
 * Every option of a training run, declared once: its key (and so its flag), value, default, help, the part of the
 * run it belongs to, how a checkpoint keeps it, what an older checkpoint that lacks it stands for, whether
 * `--resume` may change it and whether a preset may set it. `rnnlm train`'s flags, their checks, the checkpoint's
 * configuration and its check, the comparison of a resumed command line with its checkpoint, the presets' keys, fit's
 * checks and `rnnlm info` read this list. The output heads' own options (`--classes`, ...) are declared by the heads
 * (src/heads/) in the same form, part of the model.
 */
import { BACKEND_NAMES, PRECISIONS } from './backend';
import { DEFAULTS } from './defaults';
import { CELL_TYPES, OUTPUT_TYPES, WEIGHT_INITS } from './model';
import { DEFAULT_OUTPUT, headKind } from './heads';
import type { OptionSpec, ValueSpec } from './options';

/** Which part of a run an option belongs to: `rnnlm info` groups a checkpoint's options by it. */
export type RunPart = 'model' | 'data' | 'optimizer' | 'schedule' | 'run';
export const RUN_PARTS: readonly RunPart[] = ['model', 'data', 'optimizer', 'schedule', 'run'];

export interface RunOption extends OptionSpec {
  readonly part: RunPart;
  /**
   * How a checkpoint keeps it: under its key in the run's configuration (`config`), in the description of the run's
   * data (`data`), or not at all (`no`: where to write the checkpoint, threads, the backend).
   */
  readonly stored: 'config' | 'data' | 'no';
  /** The key in the run's configuration, where it is not the option's (`--model` is the configuration's `cell`). */
  readonly configKey?: string;
  /** A stored option that a checkpoint may lack (it has no value, or older checkpoints were written without it). */
  readonly optional?: boolean;
  /** What a checkpoint that lacks it stands for. */
  readonly legacy?: number | string | boolean;
  /** `--resume` may give it another value (it does not change what is trained). */
  readonly resumable?: boolean;
  /** A preset may not set it (presets set a recipe, not where files go or how the machine runs it). */
  readonly noPreset?: boolean;
}

const positive = { type: 'int', min: 1 } as const;
const positiveNumber = { type: 'number', min: 0, minExclusive: true } as const;
const text = { type: 'text' } as const;
const on = { type: 'switch' } as const;

export const RUN_OPTIONS = [
  // The model.
  { key: 'model', arg: '<cell>', part: 'model', stored: 'config', configKey: 'cell', optional: true, legacy: 'rnn', value: { type: 'choice', choices: CELL_TYPES }, default: 'rnn', help: 'recurrent cell: rnn (tanh, ch. 5), lstm or gru (ch. 6)' },
  { key: 'numLayers', arg: '<n>', part: 'model', stored: 'config', optional: true, legacy: 1, value: positive, default: 1, help: 'stacked recurrent layers' },
  { key: 'dropout', arg: '<p>', part: 'model', stored: 'config', optional: true, legacy: 0, value: { type: 'number', min: 0, max: 1, maxExclusive: true }, default: 0, help: 'dropout ratio after the embedding, between layers and before the output layer' },
  { key: 'tied', part: 'model', stored: 'config', optional: true, legacy: false, value: on, help: 'tie the output weights to the embedding (needs --wordvec-size = --hidden-size)' },
  {
    key: 'output', arg: '<layer>', part: 'model', stored: 'config', optional: true, legacy: DEFAULT_OUTPUT, value: { type: 'choice', choices: OUTPUT_TYPES }, default: DEFAULT_OUTPUT,
    help: `output layer: ${OUTPUT_TYPES.map((t) => `${t}, ${headKind(t).about}`).join('; ')}`,
  },
  { key: 'weightInit', arg: '<scheme>', part: 'model', stored: 'config', optional: true, legacy: 'book', value: { type: 'choice', choices: WEIGHT_INITS }, default: 'book', help: "initialisation: book (randn scaled as the book) or pytorch (uniform, as PyTorch's word_language_model)" },
  { key: 'wordvecSize', arg: '<n>', part: 'model', stored: 'config', value: positive, default: DEFAULTS.wordvecSize, help: 'word vector size (D)' },
  { key: 'hiddenSize', arg: '<n>', part: 'model', stored: 'config', value: positive, default: DEFAULTS.hiddenSize, help: 'hidden state size (H)' },
  { key: 'seed', arg: '<n>', part: 'model', stored: 'config', value: { type: 'int', min: 0, max: 0xffffffff }, default: 0, help: 'seed of the weight initialisation' },
  { key: 'init', arg: '<file>', part: 'model', stored: 'config', optional: true, value: text, help: 'start from these weights (.safetensors) instead of a random initialisation' },
  {
    key: 'precision', arg: '<p>', part: 'model', stored: 'config', optional: true, legacy: 'fp32', value: { type: 'choice', choices: PRECISIONS }, default: 'fp32',
    help: 'matrix products in fp32, or bf16 mixed precision (operands rounded to bfloat16, float32 sums and everything else): oneDNN bf16 matmuls when built with oneDNN, else emulated (bf16\'s numbers at fp32\'s speed or less)',
  },
  // The data.
  { key: 'corpusSize', arg: '<n>', part: 'data', stored: 'data', value: { type: 'int', min: 0 }, default: 1000, help: 'use the first n tokens of ptb.train.txt (0 = the whole split)' },
  { key: 'fullVocab', part: 'data', stored: 'data', value: on, help: "keep all of ptb.train.txt's 10000 words for a --corpus-size prefix, so that validation and test sets are covered" },
  { key: 'data', arg: '<dir>', part: 'data', stored: 'data', value: text, help: 'train on a dataset made by rnnlm prepare (its valid and test splits serve --valid and --test)' },
  { key: 'text', arg: '<file>', part: 'data', stored: 'data', value: text, help: 'train on this whitespace-tokenised text instead of PTB (line ends become <eos>): rnnlm prepare into a cache, then --data' },
  { key: 'validText', arg: '<file>', part: 'data', stored: 'data', value: text, help: 'validation text for --text (words outside the training text become <unk>)' },
  { key: 'batchSize', arg: '<n>', part: 'data', stored: 'config', value: positive, default: DEFAULTS.batchSize, help: 'rows per batch (N)' },
  { key: 'timeSize', arg: '<n>', part: 'data', stored: 'config', value: positive, default: DEFAULTS.timeSize, help: 'time steps per batch, the truncated-BPTT window (T)' },
  { key: 'dataDir', arg: '<dir>', part: 'data', stored: 'no', resumable: true, noPreset: true, value: text, help: 'folder with ptb.{train,valid,test}.txt (default: $PTB_DIR, else ~/.cache/rnnlm/ptb)' },
  // The optimizer.
  { key: 'lr', arg: '<x>', part: 'optimizer', stored: 'config', optional: true, value: positiveNumber, default: DEFAULTS.lr, help: 'SGD learning rate' },
  { key: 'maxGrad', arg: '<x>', part: 'optimizer', stored: 'config', optional: true, value: positiveNumber, help: 'clip the global gradient norm to x (default: no clipping)' },
  // The schedule.
  { key: 'maxEpoch', arg: '<n>', part: 'schedule', stored: 'config', resumable: true, value: positive, default: DEFAULTS.maxEpoch, help: 'epochs to train' },
  { key: 'valid', part: 'schedule', stored: 'config', value: { type: 'switch', negatable: true }, help: 'evaluate validation perplexity (ptb.valid.txt or --valid-text) after every epoch' },
  { key: 'evalBatchSize', arg: '<n>', part: 'schedule', stored: 'config', optional: true, value: positive, default: DEFAULTS.evalBatchSize, help: 'batch size of validation' },
  { key: 'evalTimeSize', arg: '<n>', part: 'schedule', stored: 'config', optional: true, value: positive, default: DEFAULTS.evalTimeSize, help: 'time steps of validation' },
  { key: 'lrDecay', arg: '<x>', part: 'schedule', stored: 'config', optional: true, value: { type: 'number', min: 1, minExclusive: true }, help: 'divide the learning rate by x when validation does not improve (needs --valid)' },
  { key: 'minImprovement', arg: '<r>', part: 'schedule', stored: 'config', optional: true, legacy: 1, value: { type: 'number', min: 1 }, default: 1, help: "an epoch improves when previous best / valid perplexity exceeds r (Mikolov's rnnlm: 1.003)" },
  { key: 'earlyStop', part: 'schedule', stored: 'config', optional: true, legacy: false, value: on, help: 'stop when validation does not improve after the learning rate was decayed, and restore the best weights (needs --save-best)' },
  { key: 'test', part: 'schedule', stored: 'config', optional: true, legacy: false, value: on, help: 'report the test perplexity (ptb.test.txt) when training ends' },
  { key: 'maxIters', arg: '<n>', part: 'schedule', stored: 'no', resumable: true, noPreset: true, value: positive, help: 'stop after n iterations: a quick check that a recipe trains' },
  // What the run writes and how it runs.
  { key: 'evalInterval', arg: '<n>', part: 'run', stored: 'config', value: positive, default: 20, help: 'report the running perplexity every n iterations' },
  { key: 'saveBest', arg: '<file>', part: 'run', stored: 'config', optional: true, noPreset: true, value: text, help: 'keep the weights with the best validation perplexity here (needs --valid)' },
  { key: 'save', arg: '<file>', part: 'run', stored: 'config', optional: true, noPreset: true, value: text, help: 'write the trained weights and vocabulary to this .safetensors file' },
  { key: 'log', arg: '<file>', part: 'run', stored: 'config', optional: true, noPreset: true, value: text, help: 'append one JSON object per report and per epoch to this .jsonl file' },
  { key: 'plot', arg: '<file>', part: 'run', stored: 'config', optional: true, noPreset: true, value: text, help: 'write the perplexity curve to this .svg file after every epoch' },
  { key: 'checkpoint', arg: '<file>', part: 'run', stored: 'no', resumable: true, noPreset: true, value: text, help: 'write a checkpoint after every epoch and on Ctrl-C / SIGTERM (atomically)' },
  { key: 'resume', arg: '<file>', part: 'run', stored: 'no', resumable: true, noPreset: true, value: text, help: 'continue the run saved in this checkpoint (the flags it may change are listed below)' },
  { key: 'backend', arg: '<name>', part: 'run', stored: 'no', resumable: true, noPreset: true, value: { type: 'choice', choices: BACKEND_NAMES }, help: 'arithmetic backend (default: native when built, else js)' },
  { key: 'workers', arg: '<n|auto>', part: 'run', stored: 'no', resumable: true, value: { type: 'int', min: 1, auto: true }, default: 'auto', help: 'worker threads that split every batch by rows; auto: serial for small models, else one per core' },
  { key: 'blasThreads', arg: '<n>', part: 'run', stored: 'no', resumable: true, value: positive, help: 'OpenBLAS threads while training with workers (default: cores / workers)' },
  { key: 'exchangeTimeout', arg: '<s>', part: 'run', stored: 'no', resumable: true, noPreset: true, value: positiveNumber, default: 60, help: 'under mpirun: seconds a rank waits for the others at an exchange before it ends the run (a rank stopped, or the network is down)' },
] as const satisfies readonly RunOption[];

type ValueOf<V extends ValueSpec> = V extends { type: 'choice'; choices: readonly (infer C)[] } ? C
  : V extends { type: 'int'; auto: true } ? number | 'auto'
    : V extends { type: 'int' | 'number' } ? number
      : V extends { type: 'text' } ? string : boolean;

type Options = (typeof RUN_OPTIONS)[number];

/** The parsed flags of a run: each option's value, always there when it has a default. */
export type RunFlags = { [O in Options as O['key']]: O extends { default: unknown } ? ValueOf<O['value']> : ValueOf<O['value']> | undefined };
export type RunKey = keyof RunFlags;

/** The heads' own options (src/heads/) as run options: part of the model, kept by a run of that head. */
export const HEAD_RUN_OPTIONS: readonly RunOption[] = OUTPUT_TYPES.flatMap((t) => headKind(t).options.map((h): RunOption => ({ ...h, part: 'model', stored: 'config', optional: true })));

/** Every run option, the heads' own after `--output`. */
export const ALL_RUN_OPTIONS: readonly RunOption[] = RUN_OPTIONS.flatMap((o): RunOption[] => (o.key === 'output' ? [o, ...HEAD_RUN_OPTIONS] : [o]));

type Stored = Extract<Options, { stored: 'config' }>;
type ConfigKeyOf<O> = O extends { configKey: infer K extends string } ? K : O extends { key: infer K extends string } ? K : never;

/** The run options a checkpoint's configuration keeps, under their configuration keys (optional ones may be missing). */
export type StoredOptions = { [O in Extract<Stored, { optional: true }> as ConfigKeyOf<O>]?: ValueOf<O['value']> }
  & { [O in Exclude<Stored, { optional: true }> as ConfigKeyOf<O>]: ValueOf<O['value']> };

/** The option of a key; a RangeError for a key no option has. */
export function runOption(key: string): RunOption {
  const o = ALL_RUN_OPTIONS.find((x) => x.key === key);
  if (!o) throw new RangeError(`Unknown run option '${key}'`);
  return o;
}

/** The options a preset may set. */
export type PresetKey = Exclude<Options, { noPreset: true }>['key'];
