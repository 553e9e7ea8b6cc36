/**
 * The hierarchical softmax over a Huffman tree of the words (Morin and Bengio 2005, word2vec, faster-rnnlm):
 * exact probabilities from about log2(V) scores per position, a vector per tree node.
 */
import { ensureF32 } from '../layers/buffers';
import { huffmanTree, TimeTreeSoftmaxWithLoss } from '../layers/tree-softmax';
import { LayerHead } from './layer-head';
import type { HeadContext, HeadKind, OutputHead } from './types';

export class TreeHead extends LayerHead<TimeTreeSoftmaxWithLoss> implements OutputHead {
  readonly sparseRows: OutputHead['sparseRows'];
  private predicted?: Float32Array;

  constructor(layer: TimeTreeSoftmaxWithLoss, offset: number) {
    super(layer);
    this.sparseRows = { offset, V: layer.V - 1, D: layer.H, mark: (ts, seen) => layer.markNodes(ts, seen) };
  }

  predict(h: Float32Array, N: number, T: number): Float32Array {
    this.predicted = ensureF32(this.predicted, N * T * this.layer.V);
    return this.layer.logProbs(this.predicted, h, N * T);
  }
}

function build(ctx: HeadContext): TreeHead {
  const layer = new TimeTreeSoftmaxWithLoss(ctx.param('tree.W'), ctx.param('tree.b'), huffmanTree(ctx.config.treeCounts!), ctx.config.hiddenSize, {
    backend: ctx.backend, dW: ctx.grad('tree.W'), db: ctx.grad('tree.b'),
  });
  return new TreeHead(layer, ctx.offset('tree.W'));
}

export const tree: HeadKind = {
  name: 'tree',
  about: 'a hierarchical softmax over a Huffman tree of the words: exact probabilities, about log2(V) scores per word, for large vocabularies',
  fields: ['treeCounts'],
  ownTensors: ['tree.W', 'tree.b'],
  untied: 'its weights belong to tree nodes, not words',
  options: [],
  check: (c) => {
    const counts = c.treeCounts;
    if (!counts || counts.length !== c.vocabSize || !counts.every((x) => Number.isFinite(x) && x >= 0)) {
      throw new RangeError(`The tree output layer needs ${c.vocabSize} word counts >= 0 (treeCounts) to build its tree from`);
    }
    if (c.vocabSize < 2) throw new RangeError('The tree output layer needs a vocabulary of at least 2 words');
  },
  // Zeros at first, as word2vec's.
  tensors: (c) => [
    { name: 'tree.W', shape: [c.vocabSize - 1, c.hiddenSize], initScale: 0, uniformRange: 0 },
    { name: 'tree.b', shape: [c.vocabSize - 1], initScale: 0, uniformRange: 0 },
  ],
  scores: (c) => Math.log2(c.vocabSize),
  build,
  describe: () => 'tree output',
  fromData: (d) => ({ treeCounts: Array.from(d.counts).slice(0, d.vocabSize) }),
  onnx: 'the ONNX export covers the full softmax (and sampled-softmax models, whose weights are a full softmax), not the tree output layer',
  pytorch: 'the PyTorch export covers the full softmax (and sampled-softmax models, whose weights are a full softmax), not the tree output layer',
};
