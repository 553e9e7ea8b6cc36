/**
 * The output layer of a LanguageModel behind one interface, whichever it is (full softmax, class-factored,
 * sampled, tree): from the top hidden state h [N,T,H] to the loss, the loss's gradient, and the next word's
 * distribution. The model holds one head and never asks which; the parallel engine asks the head, not the model,
 * whether and how a step splits its work by words.
 */
import { ensureF32 } from './layers/buffers';
import type { TimeAffine } from './layers/affine';
import type { TimeClassSoftmaxWithLoss } from './layers/class-softmax';
import type { TimeSampledSoftmaxWithLoss } from './layers/sampled-softmax';
import type { TimeSoftmaxWithLoss } from './layers/softmax';
import type { TimeTreeSoftmaxWithLoss } from './layers/tree-softmax';

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

/** The book's output: TimeAffine to scores [N,T,V], then TimeSoftmaxWithLoss. */
export class FullHead implements OutputHead {
  constructor(readonly affine: TimeAffine, readonly softmax: TimeSoftmaxWithLoss, readonly V: number) {}

  forward(h: Float32Array, ts: Int32Array, N: number, T: number): number {
    return this.softmax.forward(this.affine.forward(h, N, T), ts, N, T, this.V);
  }

  backward(dout: number): Float32Array {
    return this.affine.backward(this.softmax.backward(dout));
  }

  lossAndGrad(h: Float32Array, ts: Int32Array, N: number, T: number, scale: number): { loss: number; dh: Float32Array } {
    // Told the scale, the softmax writes the gradient over the scores in the passes that compute the loss.
    const loss = this.softmax.forward(this.affine.forward(h, N, T), ts, N, T, this.V, scale);
    return { loss, dh: this.affine.backward(this.softmax.backward(scale)) };
  }

  predict(h: Float32Array, N: number, T: number): Float32Array {
    return this.affine.forward(h, N, T);
  }
}

/** A layer with the book's loss-layer pair: forward to the mean loss, backward(dout) to the input's gradient. */
interface LossLayer {
  forward(h: Float32Array, ts: Int32Array, N: number, T: number): number;
  backward(dout: number): Float32Array;
}

/** A head that is one such layer: its training step is the layer's forward, then backward(scale). */
abstract class LayerHead<L extends LossLayer> {
  constructor(readonly layer: L) {}

  forward(h: Float32Array, ts: Int32Array, N: number, T: number): number {
    return this.layer.forward(h, ts, N, T);
  }

  backward(dout: number): Float32Array {
    return this.layer.backward(dout);
  }

  lossAndGrad(h: Float32Array, ts: Int32Array, N: number, T: number, scale: number): { loss: number; dh: Float32Array } {
    return { loss: this.layer.forward(h, ts, N, T), dh: this.layer.backward(scale) };
  }
}

/** The class-factored softmax: exact probabilities, C + |class| scores per position; splits a parallel step by classes. */
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

/** Sampled softmax in training; the exact full softmax over the same weights everywhere else. */
export class SampledHead implements OutputHead {
  /** Whether the last forward was the sampled one (training). */
  private sampledLast = false;

  constructor(readonly layer: TimeSampledSoftmaxWithLoss, readonly full: FullHead) {}

  forward(h: Float32Array, ts: Int32Array, N: number, T: number, key: HeadKey): number {
    this.sampledLast = key.training;
    return key.training ? this.layer.forward(h, ts, N, T, key) : this.full.forward(h, ts, N, T);
  }

  backward(dout: number): Float32Array {
    return this.sampledLast ? this.layer.backward(dout) : this.full.backward(dout);
  }

  lossAndGrad(h: Float32Array, ts: Int32Array, N: number, T: number, scale: number, key: HeadKey): { loss: number; dh: Float32Array } {
    const loss = this.forward(h, ts, N, T, key);
    return { loss, dh: this.backward(scale) };
  }

  predict(h: Float32Array, N: number, T: number): Float32Array {
    return this.full.predict(h, N, T);
  }
}

/** The hierarchical softmax over a Huffman tree of the words: about log2 V scores per position. */
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
