/** The book's output: TimeAffine to scores [N,T,V], then TimeSoftmaxWithLoss over the whole vocabulary. */
import { TimeAffine } from '../layers/affine';
import { TimeSoftmaxWithLoss } from '../layers/softmax';
import type { OnnxGraph } from '../onnx-proto';
import type { Tensor } from '../safetensors';
import type { HeadConfig, HeadContext, HeadKind, HeadTensor, OutputHead, TensorGet } from './types';

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

/** The word output weights: `affine.W` [H,V] (absent when tied: the embedding transposed) and `affine.b` [V]. */
export function wordTensors(config: HeadConfig): HeadTensor[] {
  const { vocabSize: V, hiddenSize: H } = config;
  return [...config.tied ? [] : [{ name: 'affine.W', shape: [H, V], initScale: 1 / Math.sqrt(H), uniformRange: 0.1 }],
    { name: 'affine.b', shape: [V], initScale: 0, uniformRange: 0 }];
}

/** The word output weights and their gradients (tied: the embedding's; both layers add to its gradient). */
export function wordWeights(ctx: HeadContext): { W: Float32Array; dW: Float32Array; b: Float32Array; db: Float32Array } {
  const tied = ctx.config.tied;
  return {
    W: ctx.param(tied ? 'embed.W' : 'affine.W'), dW: ctx.grad(tied ? 'embed.W' : 'affine.W'), b: ctx.param('affine.b'), db: ctx.grad('affine.b'),
  };
}

export function buildFull(ctx: HeadContext): FullHead {
  const { vocabSize: V, hiddenSize: H, tied } = ctx.config;
  const { W, dW, b, db } = wordWeights(ctx);
  return new FullHead(new TimeAffine(W, b, H, V, { backend: ctx.backend, dW, db, transposed: tied }), new TimeSoftmaxWithLoss({ backend: ctx.backend }), V);
}

/** ONNX: Gemm (transB for tied weights, so the embedding is stored once), then LogSoftmax over the words. */
export function fullOnnx(g: OnnxGraph, config: HeadConfig, get: TensorGet): string {
  const { vocabSize: V, hiddenSize: H, tied } = config;
  if (!tied) g.init('affine.W', [H, V], get('affine.W'));
  g.init('affine.b', [V], get('affine.b'));
  g.node('Gemm', ['hidden_rows', tied ? 'embed.W' : 'affine.W', 'affine.b'], ['scores'], 'affine', [{ name: 'transB', i: tied ? 1 : 0 }]);
  g.node('LogSoftmax', ['scores'], ['log_probs_rows'], 'log_softmax', [{ name: 'axis', i: 1 }]);
  return 'log_probs_rows';
}

/** PyTorch's decoder (nn.Linear): weight [V,H] = affine.W transposed, or a copy of the tied embedding; bias = affine.b. */
export function fullPytorch(config: HeadConfig, get: TensorGet): [string, Tensor][] {
  const { vocabSize: V, hiddenSize: H } = config;
  const decoder = config.tied ? Float32Array.from(get('embed.W')) : transpose(get('affine.W'), H, V);
  return [['decoder.weight', { shape: [V, H], data: decoder }], ['decoder.bias', { shape: [V], data: get('affine.b') }]];
}

function transpose(W: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(W.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = W[r * cols + c];
  return out;
}

export const full: HeadKind = {
  name: 'full',
  about: 'the full softmax over the vocabulary (the book\'s)',
  fields: [],
  ownTensors: [],
  options: [],
  check: () => undefined,
  tensors: wordTensors,
  scores: (c) => c.vocabSize,
  build: buildFull,
  describe: () => '',
  fromData: () => ({}),
  onnx: fullOnnx,
  pytorch: fullPytorch,
};
