/**
 * The class-factored softmax (Goodman 2001, Mikolov's rnnlm): exact probabilities from C + |class| scores per
 * position, over words numbered class by class; a parallel step splits its in-class part by classes.
 */
import { CLASS_METHODS, type ClassMethod } from '../data/classes';
import { checkClassBounds, TimeClassSoftmaxWithLoss } from '../layers/class-softmax';
import { ensureF32 } from '../layers/buffers';
import { LayerHead } from './layer-head';
import { wordTensors, wordWeights } from './full';
import type { HeadConfig, HeadContext, HeadKind, HeadOptions, HeadSplit, OutputHead } from './types';

/** How words are put in classes unless --class-method says otherwise (and in checkpoints that do not say). */
const DEFAULT_CLASS_METHOD: ClassMethod = 'frequency';

export class ClassHead extends LayerHead<TimeClassSoftmaxWithLoss> implements OutputHead {
  readonly split: HeadSplit;
  private predicted?: Float32Array;

  constructor(layer: TimeClassSoftmaxWithLoss, readonly V: number, gradRange: [number, number]) {
    super(layer);
    this.split = {
      gradRange,
      parts: (ts, parts) => layer.classParts(ts, parts),
      rows: (h, ts, R, scale, dh) => layer.stepClasses(h, ts, R, scale, dh),
      words: (h, ts, R, lo, hi, scale, dh) => layer.stepWords(h, ts, R, lo, hi, scale, dh),
    };
  }

  predict(h: Float32Array, N: number, T: number): Float32Array {
    this.predicted = ensureF32(this.predicted, N * T * this.V);
    return this.layer.logProbs(this.predicted, h, N, T);
  }
}

function build(ctx: HeadContext): ClassHead {
  const { vocabSize: V, hiddenSize: H, tied, classBounds } = ctx.config;
  const { W, dW, b, db } = wordWeights(ctx);
  const layer = new TimeClassSoftmaxWithLoss(W, b, ctx.param('class.W'), ctx.param('class.b'), classBounds, H, V, {
    backend: ctx.backend, transposed: tied, dW, db, dWc: ctx.grad('class.W'), dbc: ctx.grad('class.b'),
  });
  // The words part writes the output weights and biases (only the biases when tied: the embedding writes the weights too).
  const bEnd = ctx.offset('affine.b') + V;
  return new ClassHead(layer, V, [tied ? ctx.offset('affine.b') : ctx.offset('affine.W'), bEnd]);
}

const classMethod = (o: HeadOptions | undefined): ClassMethod => (o?.classMethod as ClassMethod | undefined) ?? DEFAULT_CLASS_METHOD;

export const classHead: HeadKind = {
  name: 'class',
  about: 'a class-factored softmax over word classes: exact probabilities, far fewer scores per word',
  fields: ['classBounds'],
  ownTensors: ['class.W', 'class.b'],
  options: [
    {
      key: 'classes', arg: '<n>', value: { type: 'int', min: 1 },
      help: 'word classes of --output class (default: the square root of the vocabulary size, 100 for PTB; fewer when frequent words fill them)',
    },
    {
      key: 'classMethod', arg: '<method>', value: { type: 'choice', choices: CLASS_METHODS }, default: DEFAULT_CLASS_METHOD,
      help: 'how --output class puts words in classes: frequency (Mikolov\'s frequency bands) or exchange (words of similar contexts together, by the exchange algorithm from the frequency classes)',
    },
  ],
  check: (c) => void checkClassBounds(c.classBounds, c.vocabSize),
  tensors: (c: HeadConfig) => {
    const H = c.hiddenSize, C = c.classBounds.length - 1;
    return [...wordTensors(c), { name: 'class.W', shape: [H, C], initScale: 1 / Math.sqrt(H), uniformRange: 0.1 }, { name: 'class.b', shape: [C], initScale: 0, uniformRange: 0 }];
  },
  scores: (c) => {
    const C = c.classBounds.length - 1;
    return C + c.vocabSize / C;
  },
  build,
  describe: (c, o) => `class output (${c.classBounds.length - 1} ${classMethod(o) === 'exchange' ? 'exchange' : 'word'} classes)`,
  numbering: (o) => ({ count: o.classes as number | undefined, method: classMethod(o) }),
  fromData: (d) => {
    if (!d.classBounds) throw new RangeError('The class output layer needs data numbered class by class (its class bounds)');
    return { classBounds: d.classBounds };
  },
  onnx: 'the ONNX export covers the full softmax (and sampled-softmax models, whose weights are a full softmax), not the class output layer',
  pytorch: 'the PyTorch export covers the full softmax (and sampled-softmax models, whose weights are a full softmax), not the class output layer',
};
