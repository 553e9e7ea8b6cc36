/**
 * The output layer of a LanguageModel behind one interface, whichever it is (full softmax, class-factored,
 * sampled, tree): from the top hidden state h [N,T,H] to the loss, the loss's gradient, and the next word's
 * distribution. Each head is one module of src/heads/ exporting a `HeadKind`: everything the rest of rnnlm needs to
 * know of it (its options, checks, tensors, FLOPs, layer, exports). The model, weights, checkpoints, the CLI and
 * the exporters read the kind from the table in src/heads/index.ts and never name a head.
 */
import type { Backend } from '../backend/types';
import type { ClassMethod } from '../data/classes';
import type { OnnxGraph } from '../onnx-proto';
import type { OptionSpec } from '../options';
import type { Tensor } from '../safetensors';

/** What a head reads of a model's configuration (HeadConfig extends it). */
export interface HeadConfig {
  vocabSize: number;
  hiddenSize: number;
  /** Output weights tied to the embedding (the head reads embed.W, transposed). */
  tied: boolean;
  /** For `class` output: [0, b1, ..., V], class c holding word ids classBounds[c] .. classBounds[c+1]-1; else []. */
  classBounds: readonly number[];
  /** For `sampled` output: the noise distribution (training only; evaluation is the full softmax). */
  noise?: NoiseConfig;
  /** For `tree` output: the word counts its Huffman tree is built from (huffmanTree). */
  treeCounts?: readonly number[];
}

/** Sampled softmax's noise: `samples` words per iteration from the unigram `counts` raised to `power`. */
export interface NoiseConfig {
  samples: number;
  power: number;
  counts: readonly number[];
}

/** Where a training forward is: the sampled head draws its noise words from it. */
export interface HeadKey {
  training: boolean;
  seed: number;
  iteration: number;
}

export interface OutputHead {
  /** The book's forward: the mean cross-entropy of targets ts [N,T] (-1 skipped) given h [N,T,H]; h is kept for backward. */
  forward(h: Float32Array, ts: Int32Array, N: number, T: number, key: HeadKey): number;
  /** The book's backward: the gradient [N,T,H] of the last forward's loss times dout, the head's parameter gradients added. */
  backward(dout: number): Float32Array;
  /**
   * A training step's loss and gradient at once (what forward then backward(scale) give), each head in its
   * cheapest way: the full softmax writes its gradient in the passes that compute the loss.
   */
  lossAndGrad(h: Float32Array, ts: Int32Array, N: number, T: number, scale: number, key: HeadKey): { loss: number; dh: Float32Array };
  /** Scores [N·T, V] whose softmax is the next word's distribution (log-probabilities where the head has them). */
  predict(h: Float32Array, N: number, T: number): Float32Array;
  /** How a parallel step splits this head's work by words; undefined where it runs with each slice's rows. */
  readonly split?: HeadSplit;
  /**
   * The head's row-sparse gradient, where it has one: the tree writes only the node rows [V-1,H] on its targets'
   * paths (`mark` marks them), from `offset` of the flat gradient. GradientSupport skips the other rows.
   */
  readonly sparseRows?: { offset: number; V: number; D: number; mark(ts: Int32Array, seen: Uint8Array): void };
}

/**
 * A step split by words (the class output): each slice runs `rows` on its rows (the class prediction), leaving h and
 * dh in shared memory; each worker then runs `words` for its part of the classes over every row of the batch,
 * writing only its classes' weight gradients, in `gradRange` of the flat gradient, which the block sum skips.
 */
export interface HeadSplit {
  /** The flat gradient range that only `words` writes: the output weights and biases (only the biases when tied). */
  readonly gradRange: [number, number];
  /** Bounds of `parts` parts of the words for targets ts (parts + 1 numbers), of about equal work. */
  parts(ts: Int32Array, parts: number): number[];
  /** The per-row part on rows h [R,H], ts [R]: loss summed, gradient (times scale) written to dh [R,H]. */
  rows(h: Float32Array, ts: Int32Array, R: number, scale: number, dh: Float32Array): number;
  /** The words of part [lo, hi) over a batch's rows h [R,H], ts [R]: loss summed, gradient added to dh and the weights. */
  words(h: Float32Array, ts: Int32Array, R: number, lo: number, hi: number, scale: number, dh: Float32Array): number;
}

/** A tensor of the head: its name, shape and the initialisation of each scheme (see LanguageModel). */
export interface HeadTensor {
  name: string;
  shape: number[];
  /** `book`: standard normals times this scale (0: zeros). */
  initScale: number;
  /** `pytorch`: uniform in +-this (0: zeros). */
  uniformRange: number;
}

/** What a head is built over: the model's config, backend and its tensors by name (views of the flat buffers). */
export interface HeadContext {
  readonly config: HeadConfig;
  readonly backend: Backend;
  param(name: string): Float32Array;
  grad(name: string): Float32Array;
  /** Where a tensor starts in the flat parameter (and gradient) buffer. */
  offset(name: string): number;
}

/** The run's options of a head, by key (each head reads those it declares). */
export type HeadOptions = Readonly<Record<string, unknown>>;

/** What the run's data offers a head: the vocabulary's counts and, when numbered class by class, the class bounds. */
export interface HeadData {
  vocabSize: number;
  counts: ArrayLike<number>;
  classBounds?: readonly number[];
}

/** The config fields that belong to one head each, with what each holds in words. */
export const HEAD_FIELD_WORDS = { classBounds: 'class boundaries', noise: 'noise distribution', treeCounts: 'word counts' } as const;
export type HeadField = keyof typeof HEAD_FIELD_WORDS;
export const HEAD_FIELDS = Object.keys(HEAD_FIELD_WORDS) as HeadField[];

/** A tensor lookup by name for an export (a RangeError names a missing tensor). */
export type TensorGet = (name: string) => Float32Array;

export interface HeadKind {
  /** The name in configs, files and `--output`. */
  readonly name: string;
  /** `--output`'s help for this head. */
  readonly about: string;
  /** The config fields of this head (every other head refuses them). */
  readonly fields: readonly HeadField[];
  /** The tensors only this head has: a weights file holding them without its architecture cannot be read. */
  readonly ownTensors: readonly string[];
  /** Why the head cannot tie its weights to the embedding; undefined when it can. */
  readonly untied?: string;
  /** The run options of this head (`--classes`, ...), given only with it. */
  readonly options: readonly OptionSpec[];
  /** Checks the config's fields of this head; a RangeError names the field. */
  check(config: HeadConfig): void;
  /** The head's tensors, after the recurrent layers' in the flat buffers. */
  tensors(config: HeadConfig): HeadTensor[];
  /** Output scores per position of a training step (its FLOPs are 6·N·T·H times this). */
  scores(config: HeadConfig): number;
  build(ctx: HeadContext): OutputHead;
  /** A few words for the model's description ("100 word classes"); empty for the book's softmax. */
  describe(config: HeadConfig, options?: HeadOptions): string;
  /** The word numbering the head needs of the run's data (the class output: class by class), if any. */
  numbering?(options: HeadOptions): { count?: number; method: ClassMethod };
  /** The head's config fields from the run's data and options. */
  fromData(data: HeadData, options: HeadOptions): Partial<HeadConfig>;
  /** The ONNX graph's output part, from `hidden_rows` [rows, H] to the returned name's log-probabilities [rows, V]; or why not. */
  readonly onnx: ((g: OnnxGraph, config: HeadConfig, get: TensorGet) => string) | string;
  /** PyTorch word_language_model's decoder tensors; or why not. */
  readonly pytorch: ((config: HeadConfig, get: TensorGet) => [string, Tensor][]) | string;
}
