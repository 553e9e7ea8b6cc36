/**
 * The language models: one class, `LanguageModel`, built from a configuration (cell, layers, sizes, dropout, tied
 * weights), and the book's models as ready-made configurations: `SimpleRnnlm` (ch. 5), `Rnnlm` and `BetterRnnlm`
 * (ch. 6). `paramTable` is the one place that lists tensor names and shapes; `stateTable` the one that lists the
 * recurrent state. Nothing outside this file names a cell's tensors.
 *
 * Layers: TimeEmbedding -> [TimeDropout -> TimeRNN|TimeLSTM|TimeGRU] x layers -> TimeDropout -> the output
 * head (src/heads/: the book's TimeAffine -> TimeSoftmaxWithLoss, or another output layer in their place).
 */
import { resolveBackend, type Backend, type BackendName } from './backend';
import { TimeDropout } from './layers/dropout';
import { TimeEmbedding } from './layers/embedding';
import type { TimeRecurrent } from './layers/recurrent';
import { CELL_TYPES, cellKind, type CellType } from './cells';
import { DEFAULT_OUTPUT, HEAD_FIELDS, headKind, OUTPUT_TYPES, type HeadConfig, type HeadKey, type NoiseConfig, type OutputHead, type OutputType } from './heads';
import { DEFAULTS } from './defaults';
import { Random } from './random';

export { CELL_TYPES, type CellType };

/** What a model is: the recurrent layers' sizes and the output head's (HeadConfig: vocabulary, hidden size, tied, ...). */
export interface ModelConfig extends HeadConfig {
  cell: CellType;
  /** Stacked recurrent layers (>= 1). */
  layers: number;
  wordvecSize: number;
  /** Dropout ratio in [0, 1) after the embedding, between layers and before the output layer (training only). */
  dropout: number;
  /** The output head (src/heads/): `full` softmax over the vocabulary (the book's), `class`, `sampled` or `tree`. */
  output: OutputType;
}

export { OUTPUT_TYPES, type OutputType, type NoiseConfig };

/**
 * A config with defaults filled in (1 layer, no dropout, untied, full softmax; wordvec and hidden 100) and every
 * field checked.
 */
export function modelConfig(c: Partial<ModelConfig> & { vocabSize: number }): ModelConfig {
  const config: ModelConfig = {
    cell: c.cell ?? 'rnn', layers: c.layers ?? 1, vocabSize: c.vocabSize, wordvecSize: c.wordvecSize ?? DEFAULTS.wordvecSize,
    hiddenSize: c.hiddenSize ?? DEFAULTS.hiddenSize, dropout: c.dropout ?? 0, tied: c.tied ?? false,
    output: c.output ?? DEFAULT_OUTPUT, classBounds: c.classBounds ? Array.from(c.classBounds) : [],
    ...(c.noise && { noise: { samples: c.noise.samples, power: c.noise.power, counts: Array.from(c.noise.counts) } }),
    ...(c.treeCounts && { treeCounts: Array.from(c.treeCounts) }),
  };
  if (!CELL_TYPES.includes(config.cell)) {
    throw new RangeError(`Unknown cell '${String(config.cell)}': expected one of ${CELL_TYPES.join(', ')}`);
  }
  for (const k of ['layers', 'vocabSize', 'wordvecSize', 'hiddenSize'] as const) {
    const v = config[k];
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`Expected positive integer for ${k} but received ${v}`);
  }
  if (!(config.dropout >= 0 && config.dropout < 1)) {
    throw new RangeError(`Expected dropout in [0, 1) but received ${config.dropout}`);
  }
  if (typeof config.tied !== 'boolean') throw new TypeError(`Expected boolean for tied but received ${String(config.tied)}`);
  checkHeadFields(config);
  if (config.tied && config.wordvecSize !== config.hiddenSize) {
    throw new RangeError(
      `Tied weights need wordvecSize = hiddenSize (the output layer reuses the embedding), but they are ${config.wordvecSize} and ${config.hiddenSize}`,
    );
  }
  return config;
}

/** The output head's checks: its own fields, none of another head's, and whether it can be tied. */
function checkHeadFields(config: ModelConfig): void {
  const kind = headKind(config.output);
  for (const field of HEAD_FIELDS) {
    const value = config[field];
    const present = Array.isArray(value) ? value.length > 0 : value !== undefined;
    if (present && !kind.fields.includes(field)) {
      const owner = OUTPUT_TYPES.find((t) => headKind(t).fields.includes(field));
      throw new RangeError(`${field} is for the ${owner} output layer, not '${config.output}'`);
    }
  }
  kind.check(config);
  if (config.tied && kind.untied) throw new RangeError(`The ${kind.name} output layer cannot be tied to the embedding: ${kind.untied}`);
}

export interface ParamSpec {
  name: string;
  shape: number[];
  /** Offset in elements inside the flat parameter (and gradient) buffer. */
  offset: number;
  size: number;
  /** The book's initialisation: standard normals times this scale (0: zeros). */
  initScale: number;
  /** PyTorch's: uniform in +-this (0: zeros), summed over `uniformTerms` draws (a recurrent bias is PyTorch's b_ih + b_hh). */
  uniformRange: number;
  uniformTerms: number;
}

/**
 * The size table: every tensor's name, shape, place in the flat buffers and initial scale, in the book's order:
 * `embed.W` [V,D]; per layer l: `{cell}.{l}.Wx` [in,G*H], `{cell}.{l}.Wh` [H,G*H], `{cell}.{l}.b` [G*H]; then the
 * output head's (HeadKind.tensors: the book's `affine.W` [H,V], absent when tied, and `affine.b` [V]).
 */
export function paramTable(config: ModelConfig): ParamSpec[] {
  const { cell, layers, vocabSize: V, wordvecSize: D, hiddenSize: H } = config;
  const G = cellKind(cell).gates * H;
  const k = 1 / Math.sqrt(H);
  const list: Omit<ParamSpec, 'offset' | 'size'>[] = [{ name: 'embed.W', shape: [V, D], initScale: 1 / 100, uniformRange: 0.1, uniformTerms: 1 }];
  for (let l = 0; l < layers; l++) {
    const inSize = l === 0 ? D : H, p = `${cell}.${l}`;
    list.push(
      { name: `${p}.Wx`, shape: [inSize, G], initScale: 1 / Math.sqrt(inSize), uniformRange: k, uniformTerms: 1 },
      { name: `${p}.Wh`, shape: [H, G], initScale: k, uniformRange: k, uniformTerms: 1 },
      { name: `${p}.b`, shape: [G], initScale: 0, uniformRange: k, uniformTerms: 2 },
    );
  }
  for (const t of headKind(config.output).tensors(config)) list.push({ ...t, uniformTerms: 1 });
  let offset = 0;
  return list.map((t) => {
    const size = t.shape.reduce((a, b) => a * b, 1);
    const spec = { ...t, offset, size };
    offset += size;
    return spec;
  });
}

/**
 * A lookup of a config's tensors by paramTable name for `purpose` (e.g. 'the ONNX export'): each one present with
 * the size the table gives it, else a RangeError naming the tensor.
 */
export function tensorLookup(config: ModelConfig, tensors: ReadonlyMap<string, Float32Array>, purpose: string): (name: string) => Float32Array {
  const sizes = new Map(paramTable(config).map((s) => [s.name, s.size]));
  return (name) => {
    const size = sizes.get(name), t = tensors.get(name);
    if (size === undefined || !t || t.length !== size) throw new RangeError(`Expected tensor ${name} of ${size ?? '?'} floats for ${purpose}`);
    return t;
  };
}

/** The recurrent state: one [N,H] tensor per layer and state name, e.g. `lstm.0.h`, `lstm.0.c`, `lstm.1.h`, ... */
export function stateTable(config: ModelConfig): { name: string; layer: number; index: number }[] {
  const out: { name: string; layer: number; index: number }[] = [];
  for (let l = 0; l < config.layers; l++) {
    cellKind(config.cell).state.forEach((s, index) => out.push({ name: `${config.cell}.${l}.${s}`, layer: l, index }));
  }
  return out;
}

/**
 * The matrix-product FLOPs of one training iteration (forward and backward: 3 products of 2 FLOPs per
 * multiply-add): per recurrent layer 6*N*T*(in + H)*G*H with G gates, plus the output head's 6*N*T*H times its
 * scores per position (HeadKind.scores: V for the full softmax).
 */
export function iterationFlops(config: ModelConfig, N: number, T: number): number {
  const { cell, layers, wordvecSize: D, hiddenSize: H } = config;
  const G = cellKind(cell).gates;
  let f = 6 * N * T * H * headKind(config.output).scores(config);
  for (let l = 0; l < layers; l++) f += 6 * N * T * ((l === 0 ? D : H) + H) * G * H;
  return f;
}

/**
 * How new weights are drawn. `book`: the book's (embedding randn/100, Wx randn/sqrt(in), Wh and affine.W
 * randn/sqrt(H), biases 0). `pytorch`: PyTorch's word_language_model (embedding and affine.W uniform in +-0.1,
 * affine.b 0; recurrent weights and biases uniform in +-1/sqrt(H), the bias as the sum of PyTorch's two).
 */
export type WeightInit = 'book' | 'pytorch';
export const WEIGHT_INITS: readonly WeightInit[] = ['book', 'pytorch'];

export interface ModelOptions {
  /** Seed of the initialisation and of the dropout masks (default 0). */
  seed?: number;
  /** The initialisation scheme (default 'book'), as `--weight-init`. */
  weightInit?: WeightInit;
  backend?: Backend | BackendName;
  /** Use these flat buffers (length = parameter count) instead of allocating; they are not initialised. */
  buffers?: { params: Float32Array; grads: Float32Array };
}

/** Where a training forward is: dropout masks depend on it (see TimeDropout). */
export interface StepKey {
  /** The training iteration over the whole run (default: this model's count of training forwards). */
  iteration?: number;
  /** The batch row this call's first row stands for (a worker's slice), default 0. */
  row0?: number;
}

/**
 * A recurrent language model. All parameters live in one flat Float32Array (`flatParams`), all gradients in
 * another (`flatGrads`), both on SharedArrayBuffers so that worker threads read them without copies; `params` /
 * `grads` are views in paramTable order, `param(name)` / `grad(name)` by name. backward accumulates into the
 * gradients: call zeroGrads() once per iteration.
 */
export class LanguageModel {
  readonly config: ModelConfig;
  readonly backend: Backend;
  readonly seed: number;
  readonly specs: ParamSpec[];
  readonly flatParams: Float32Array;
  readonly flatGrads: Float32Array;
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  readonly embed: TimeEmbedding;
  /** The recurrent layers, bottom to top. */
  readonly layers: TimeRecurrent[];
  /** dropouts[l] feeds layers[l]; the last one feeds the output layer. Empty when config.dropout is 0. */
  readonly dropouts: TimeDropout[];
  /** The output layer (config.output), behind one interface. */
  readonly head: OutputHead;
  /** Training forwards so far: the default dropout iteration. */
  forwardCount = 0;
  private training = true;
  private forwarded = false;
  private evalReplica?: LanguageModel;

  constructor(config: Partial<ModelConfig> & { vocabSize: number }, opts: ModelOptions = {}) {
    this.config = modelConfig(config);
    const { cell, layers, vocabSize: V, wordvecSize: D, hiddenSize: H, dropout } = this.config;
    this.backend = resolveBackend(opts.backend);
    this.seed = (opts.seed ?? 0) >>> 0;
    this.specs = paramTable(this.config);
    const total = this.specs.reduce((a, s) => a + s.size, 0);
    if (opts.buffers) {
      if (opts.buffers.params.length !== total || opts.buffers.grads.length !== total) {
        throw new RangeError(`Expected parameter and gradient buffers of length ${total}`);
      }
      this.flatParams = opts.buffers.params;
      this.flatGrads = opts.buffers.grads;
    } else {
      const alloc = (): Float32Array => new Float32Array(new SharedArrayBuffer(total * 4));
      this.flatParams = alloc();
      this.flatGrads = alloc();
      this.initialize(this.seed, opts.weightInit ?? 'book');
    }
    this.params = this.specs.map((s) => this.flatParams.subarray(s.offset, s.offset + s.size));
    this.grads = this.specs.map((s) => this.flatGrads.subarray(s.offset, s.offset + s.size));
    const backend = this.backend;
    this.embed = new TimeEmbedding(this.param('embed.W'), V, D, { backend, dW: this.grad('embed.W') });
    this.layers = [];
    for (let l = 0; l < layers; l++) {
      const w = (p: string): Float32Array => this.param(`${cell}.${l}.${p}`);
      const g = (p: string): Float32Array => this.grad(`${cell}.${l}.${p}`);
      this.layers.push(cellKind(cell).make({ Wx: w('Wx'), Wh: w('Wh'), b: w('b') }, l === 0 ? D : H, H, {
        backend, stateful: true, grads: { Wx: g('Wx'), Wh: g('Wh'), b: g('b') },
      }));
    }
    this.dropouts = dropout > 0 ? Array.from({ length: layers + 1 }, (_, site) => new TimeDropout(dropout, site, { backend })) : [];
    this.head = this.makeHead();
  }

  /** The configured output head over its tensors. */
  private makeHead(): OutputHead {
    return headKind(this.config.output).build({
      config: this.config, backend: this.backend, param: (n) => this.param(n), grad: (n) => this.grad(n), offset: (n) => this.specs[this.index(n)].offset,
    });
  }

  get vocabSize(): number {
    return this.config.vocabSize;
  }

  get wordvecSize(): number {
    return this.config.wordvecSize;
  }

  get hiddenSize(): number {
    return this.config.hiddenSize;
  }

  /** Draws every tensor in paramTable order from one seeded generator (see WeightInit). */
  private initialize(seed: number, init: WeightInit): void {
    if (!WEIGHT_INITS.includes(init)) throw new RangeError(`Unknown weightInit '${String(init)}': expected one of ${WEIGHT_INITS.join(', ')}`);
    const rng = new Random(seed);
    for (const s of this.specs) {
      const view = this.flatParams.subarray(s.offset, s.offset + s.size);
      const scale = init === 'book' ? s.initScale : s.uniformRange;
      if (scale === 0) view.fill(0);
      else if (init === 'book') rng.fillRandn(view, scale);
      else {
        for (let i = 0; i < view.length; i++) {
          let v = 0;
          for (let t = 0; t < s.uniformTerms; t++) v += (2 * rng.uniform() - 1) * scale;
          view[i] = v;
        }
      }
    }
  }

  private index(name: string): number {
    const i = this.specs.findIndex((p) => p.name === name);
    if (i < 0) throw new RangeError(`Unknown parameter '${name}': expected one of ${this.specs.map((s) => s.name).join(', ')}`);
    return i;
  }

  param(name: string): Float32Array {
    return this.params[this.index(name)];
  }

  grad(name: string): Float32Array {
    return this.grads[this.index(name)];
  }

  /** Training mode (dropout on) or evaluation mode (off): PyTorch's model.train() / model.eval(), the book's train_flg. */
  train(on = true): this {
    this.training = on;
    for (const d of this.dropouts) d.train = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  get isTraining(): boolean {
    return this.training;
  }

  /** The output layer's input [N,T,H] for word ids xs [N,T], advancing the state; dropout as the mode says. */
  private hidden(xs: Int32Array, N: number, T: number, key: StepKey): Float32Array {
    const H = this.hiddenSize;
    const dkey = { seed: this.seed, iteration: key.iteration ?? this.forwardCount, row0: key.row0 ?? 0 };
    let x = this.embed.forward(xs, N, T);
    let size = this.wordvecSize;
    this.layers.forEach((layer, l) => {
      if (this.dropouts.length > 0) x = this.dropouts[l].forward(x, N, T, size, dkey);
      x = layer.forward(x, N, T);
      size = H;
    });
    if (this.dropouts.length > 0) x = this.dropouts[this.layers.length].forward(x, N, T, H, dkey);
    return x;
  }

  /**
   * The output layer's input [N,T,H] for a forward whose backward may follow (counted as a training forward when
   * training). A parallel step split by words (OutputHead.split) runs the head's parts on it, then backwardFrom.
   */
  forwardHidden(xs: Int32Array, N: number, T: number, key: StepKey): Float32Array {
    const h = this.hidden(xs, N, T, key);
    if (this.training) this.forwardCount++;
    this.forwarded = true;
    return h;
  }

  private headKey(key: StepKey): HeadKey {
    return { training: this.training, seed: this.seed, iteration: key.iteration ?? this.forwardCount };
  }

  /**
   * Scores [N,T,V] for word ids xs [N,T] (no loss, no dropout), advancing the state: for generation and scoring;
   * their softmax is the model's distribution of the next word (with class or tree output they are the
   * log-probabilities).
   */
  predict(xs: Int32Array, N: number, T: number): Float32Array {
    const mode = this.training;
    this.train(false);
    try {
      return this.head.predict(this.hidden(xs, N, T, {}), N, T);
    } finally {
      this.train(mode);
    }
  }

  /** The mean cross-entropy of predicting ts [N,T] from xs [N,T] (-1 targets are skipped). */
  forward(xs: Int32Array, ts: Int32Array, N: number, T: number, key: StepKey = {}): number {
    const hk = this.headKey(key);
    return this.head.forward(this.forwardHidden(xs, N, T, key), ts, N, T, hk);
  }

  /** Adds the gradients of the last forward's loss, times dout, to `grads`. */
  backward(dout = 1): void {
    if (!this.forwarded) throw new Error('LanguageModel.backward called before forward');
    this.backwardHidden(this.head.backward(dout));
  }

  /**
   * A training step's forward and backward at once: the mean loss of ts [N,T] given xs [N,T], and its gradient times
   * `scale` added to `grads` (as forward then backward(scale), in the head's cheapest way).
   */
  forwardBackward(xs: Int32Array, ts: Int32Array, N: number, T: number, key: StepKey = {}, scale = 1): number {
    const hk = this.headKey(key);
    const { loss, dh } = this.head.lossAndGrad(this.forwardHidden(xs, N, T, key), ts, N, T, scale, hk);
    this.backwardHidden(dh);
    return loss;
  }

  /** A split step's backward from the output layer's input gradient dh [N,T,H] (forwardHidden's rows) down. */
  backwardFrom(dh: Float32Array): void {
    if (!this.forwarded) throw new Error('LanguageModel.backwardFrom called before forwardHidden');
    this.backwardHidden(dh);
  }

  /** The backward from the output layer's input gradient d [N,T,H] through the dropouts, the recurrent layers and the embedding. */
  private backwardHidden(d: Float32Array): void {
    const L = this.layers.length;
    if (this.dropouts.length > 0) d = this.dropouts[L].backward(d);
    for (let l = L - 1; l >= 0; l--) {
      d = this.layers[l].backward(d);
      if (this.dropouts.length > 0) d = this.dropouts[l].backward(d);
    }
    this.embed.backward(d);
  }

  /**
   * The row-sparse part of the gradient: with untied weights only the embedding's backward writes embed.W's
   * gradient [V,D] (the first V*D floats of flatGrads), and only in the rows of the batch's word ids; undefined when
   * tied, where the output layer writes all of it. GradientSupport skips the other rows.
   */
  get sparseRows(): { V: number; D: number } | undefined {
    return this.config.tied ? undefined : { V: this.vocabSize, D: this.wordvecSize };
  }

  /** Sets every gradient to zero (backward accumulates). */
  zeroGrads(): void {
    this.backend.zero(this.flatGrads);
  }

  resetState(): void {
    for (const l of this.layers) l.resetState();
  }

  /** The names of the state tensors, in the order getState returns them. */
  get stateNames(): string[] {
    return stateTable(this.config).map((s) => s.name);
  }

  /** The carried state, one [N,H] tensor per stateNames entry (views), or null before the first forward. */
  getState(): Float32Array[] | null {
    const out: Float32Array[] = [];
    for (const layer of this.layers) {
      const s = layer.getState();
      if (s === null) return null;
      out.push(...s);
    }
    return out;
  }

  /** Sets the state (copied), one [N,H] tensor per stateNames entry. */
  setState(state: readonly Float32Array[]): void {
    const table = stateTable(this.config);
    if (state.length !== table.length) {
      throw new RangeError(`Expected ${table.length} state tensors (${table.map((s) => s.name).join(', ')}) but received ${state.length}`);
    }
    const perLayer = table.length / this.layers.length;
    this.layers.forEach((layer, l) => layer.setState(...state.slice(l * perLayer, (l + 1) * perLayer)));
  }

  /** Matrix-product FLOPs of one training iteration on [N,T] batches. */
  flops(N: number, T: number): number {
    return iterationFlops(this.config, N, T);
  }

  /**
   * A model for evaluation: the same parameters (shared, not copied), its own state and activations, dropout off.
   * Evaluating with it leaves this model's training state untouched.
   */
  evaluator(): LanguageModel {
    if (!this.evalReplica) {
      this.evalReplica = new LanguageModel(this.config, {
        backend: this.backend, seed: this.seed, buffers: { params: this.flatParams, grads: new Float32Array(this.flatParams.length) },
      }).eval();
    }
    return this.evalReplica;
  }

  /** Copies `values` (same length as flatParams) into the parameters. */
  setParams(values: Float32Array): void {
    if (values.length !== this.flatParams.length) {
      throw new RangeError(`Expected ${this.flatParams.length} parameter values but received ${values.length}`);
    }
    this.flatParams.set(values);
  }
}

/** SimpleRnnlm (Deep Learning from Scratch 2, ch. 5): embedding -> TimeRNN (tanh) -> affine. */
export class SimpleRnnlm extends LanguageModel {
  constructor(vocabSize: number, wordvecSize = 100, hiddenSize = 100, opts: ModelOptions = {}) {
    super({ cell: 'rnn', layers: 1, vocabSize, wordvecSize, hiddenSize, dropout: 0, tied: false }, opts);
  }
}

/** Rnnlm (ch. 6): embedding -> TimeLSTM -> affine. */
export class Rnnlm extends LanguageModel {
  constructor(vocabSize: number, wordvecSize = 100, hiddenSize = 100, opts: ModelOptions = {}) {
    super({ cell: 'lstm', layers: 1, vocabSize, wordvecSize, hiddenSize, dropout: 0, tied: false }, opts);
  }
}

/** BetterRnnlm (ch. 6): two TimeLSTM layers, dropout 0.5 around them, output weights tied to the embedding. */
export class BetterRnnlm extends LanguageModel {
  constructor(vocabSize: number, wordvecSize = 650, hiddenSize = 650, dropoutRatio = 0.5, opts: ModelOptions = {}) {
    super({ cell: 'lstm', layers: 2, vocabSize, wordvecSize, hiddenSize, dropout: dropoutRatio, tied: true }, opts);
  }
}
