import { resolveBackend, type Backend, type BackendName } from './backend';
import { TimeAffine } from './layers/affine';
import { TimeEmbedding } from './layers/embedding';
import { TimeRNN } from './layers/rnn';
import { TimeSoftmaxWithLoss } from './layers/softmax';
import { Random } from './random';

/** The tensors of a SimpleRnnlm, in the book's order, with the names used in weights files. */
export const PARAM_NAMES = ['embed.W', 'rnn.Wx', 'rnn.Wh', 'rnn.b', 'affine.W', 'affine.b'] as const;
export type ParamName = (typeof PARAM_NAMES)[number];

export interface ParamSpec {
  name: ParamName;
  shape: number[];
  /** Offset in elements inside the flat parameter (and gradient) buffer. */
  offset: number;
  size: number;
}

/** The size table of SimpleRnnlm(V, D, H): every tensor's shape and place in the flat buffers. */
export function paramSpecs(V: number, D: number, H: number): ParamSpec[] {
  const shapes: Record<ParamName, number[]> = {
    'embed.W': [V, D], 'rnn.Wx': [D, H], 'rnn.Wh': [H, H], 'rnn.b': [H], 'affine.W': [H, V], 'affine.b': [V],
  };
  let offset = 0;
  return PARAM_NAMES.map((name) => {
    const shape = shapes[name];
    const size = shape.reduce((a, b) => a * b, 1);
    const spec = { name, shape, offset, size };
    offset += size;
    return spec;
  });
}

export interface SimpleRnnlmOptions {
  /** Seed of the book's initialisation (default 0). */
  seed?: number;
  backend?: Backend | BackendName;
  /** Use these flat buffers (length = parameter count) instead of allocating; they are not initialised. */
  buffers?: { params: Float32Array; grads: Float32Array };
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`Expected positive integer for ${name} but received ${v}`);
  }
}

/**
 * SimpleRnnlm (Deep Learning from Scratch 2, ch. 5):
 * TimeEmbedding -> TimeRNN (tanh, stateful) -> TimeAffine -> TimeSoftmaxWithLoss.
 * All parameters live in one flat Float32Array (`flatParams`), all gradients in another (`flatGrads`), both on
 * SharedArrayBuffers;
 * `params` / `grads` are views into them in the book's order, `param(name)` / `grad(name)` by name.
 */
export class SimpleRnnlm {
  readonly vocabSize: number;
  readonly wordvecSize: number;
  readonly hiddenSize: number;
  readonly backend: Backend;
  readonly specs: ParamSpec[];
  readonly flatParams: Float32Array;
  readonly flatGrads: Float32Array;
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  readonly embed: TimeEmbedding;
  readonly rnn: TimeRNN;
  readonly affine: TimeAffine;
  readonly lossLayer: TimeSoftmaxWithLoss;
  private forwarded = false;

  constructor(vocabSize: number, wordvecSize: number, hiddenSize: number, opts: SimpleRnnlmOptions = {}) {
    checkSize('vocabSize', vocabSize);
    checkSize('wordvecSize', wordvecSize);
    checkSize('hiddenSize', hiddenSize);
    const V = vocabSize, D = wordvecSize, H = hiddenSize;
    this.vocabSize = V;
    this.wordvecSize = D;
    this.hiddenSize = H;
    this.backend = resolveBackend(opts.backend);
    this.specs = paramSpecs(V, D, H);
    const total = this.specs.reduce((a, s) => a + s.size, 0);
    if (opts.buffers) {
      if (opts.buffers.params.length !== total || opts.buffers.grads.length !== total) {
        throw new RangeError(`Expected parameter and gradient buffers of length ${total}`);
      }
      this.flatParams = opts.buffers.params;
      this.flatGrads = opts.buffers.grads;
    } else {
      // Shared memory, so that worker threads (src/parallel) read the parameters without copies.
      const alloc = (): Float32Array => new Float32Array(new SharedArrayBuffer(total * 4));
      this.flatParams = alloc();
      this.flatGrads = alloc();
      this.initialize(opts.seed ?? 0);
    }
    this.params = this.specs.map((s) => this.flatParams.subarray(s.offset, s.offset + s.size));
    this.grads = this.specs.map((s) => this.flatGrads.subarray(s.offset, s.offset + s.size));
    const [embedW, Wx, Wh, b, affineW, affineB] = this.params;
    const [dEmbedW, dWx, dWh, db, dAffineW, dAffineB] = this.grads;
    const backend = this.backend;
    this.embed = new TimeEmbedding(embedW, V, D, { backend, dW: dEmbedW });
    this.rnn = new TimeRNN({ Wx, Wh, b }, D, H, { backend, stateful: true, grads: { Wx: dWx, Wh: dWh, b: db } });
    this.affine = new TimeAffine(affineW, affineB, H, V, { backend, dW: dAffineW, db: dAffineB });
    this.lossLayer = new TimeSoftmaxWithLoss({ backend });
  }

  /** The book's initialisation: embedding randn/100, Wx randn/sqrt(D), Wh and affine randn/sqrt(H), biases 0. */
  private initialize(seed: number): void {
    const rng = new Random(seed);
    const D = this.wordvecSize, H = this.hiddenSize;
    const scales: Record<ParamName, number> = {
      'embed.W': 1 / 100, 'rnn.Wx': 1 / Math.sqrt(D), 'rnn.Wh': 1 / Math.sqrt(H), 'rnn.b': 0,
      'affine.W': 1 / Math.sqrt(H), 'affine.b': 0,
    };
    for (const s of this.specs) {
      const view = this.flatParams.subarray(s.offset, s.offset + s.size);
      if (scales[s.name] === 0) view.fill(0);
      else rng.fillRandn(view, scales[s.name]);
    }
  }

  private spec(name: string): ParamSpec {
    const s = this.specs.find((p) => p.name === name);
    if (!s) throw new RangeError(`Unknown parameter '${name}': expected one of ${PARAM_NAMES.join(', ')}`);
    return s;
  }

  param(name: ParamName): Float32Array {
    return this.params[this.specs.indexOf(this.spec(name))];
  }

  grad(name: ParamName): Float32Array {
    return this.grads[this.specs.indexOf(this.spec(name))];
  }

  /** Scores [N,T,V] for word ids xs [N,T] (no loss), advancing the hidden state. */
  predict(xs: Int32Array, N: number, T: number): Float32Array {
    const x = this.embed.forward(xs, N, T);
    const h = this.rnn.forward(x, N, T);
    return this.affine.forward(h, N, T);
  }

  /** The mean cross-entropy of predicting ts [N,T] from xs [N,T]. */
  forward(xs: Int32Array, ts: Int32Array, N: number, T: number): number {
    const scores = this.predict(xs, N, T);
    this.forwarded = true;
    return this.lossLayer.forward(scores, ts, N, T, this.vocabSize);
  }

  /** Writes every gradient of the last forward's loss (times dout) into `grads`. */
  backward(dout = 1): void {
    if (!this.forwarded) throw new Error('SimpleRnnlm.backward called before forward');
    let d = this.lossLayer.backward(dout);
    d = this.affine.backward(d);
    d = this.rnn.backward(d);
    this.embed.backward(d);
  }

  resetState(): void {
    this.rnn.resetState();
  }

  /** Copies `values` (same length as flatParams) into the parameters. */
  setParams(values: Float32Array): void {
    if (values.length !== this.flatParams.length) {
      throw new RangeError(`Expected ${this.flatParams.length} parameter values but received ${values.length}`);
    }
    this.flatParams.set(values);
  }
}
