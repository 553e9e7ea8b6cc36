/**
 * Sampled softmax (Jean et al. 2015) in training over the full softmax's weights: the target and `samples` noise
 * words drawn from the unigram counts raised to `power`; the exact full softmax everywhere else.
 */
import { TimeSampledSoftmaxWithLoss } from '../layers/sampled-softmax';
import { buildFull, fullOnnx, fullPytorch, wordTensors, wordWeights, type FullHead } from './full';
import type { HeadContext, HeadKey, HeadKind, OutputHead } from './types';

const DEFAULT_NOISE_SAMPLES = 1024;
const DEFAULT_NOISE_POWER = 0.75;

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

function build(ctx: HeadContext): SampledHead {
  const { vocabSize: V, hiddenSize: H, tied } = ctx.config;
  const n = ctx.config.noise!;
  const { W, dW, b, db } = wordWeights(ctx);
  const layer = new TimeSampledSoftmaxWithLoss(W, b, H, V, n.counts, n.samples, n.power, { backend: ctx.backend, transposed: tied, dW, db });
  return new SampledHead(layer, buildFull(ctx));
}

export const sampled: HeadKind = {
  name: 'sampled',
  about: 'sampled softmax in training, the exact full softmax in evaluation',
  fields: ['noise'],
  ownTensors: [],
  options: [
    { key: 'noiseSamples', arg: '<k>', value: { type: 'int', min: 1 }, default: DEFAULT_NOISE_SAMPLES, help: 'noise words per iteration of --output sampled' },
    { key: 'noisePower', arg: '<a>', value: { type: 'number', min: 0, max: 1 }, default: DEFAULT_NOISE_POWER, help: 'the noise distribution of --output sampled: unigram^a' },
  ],
  check: (c) => {
    const n = c.noise;
    if (!n) throw new RangeError('The sampled output layer needs its noise distribution (noise: { samples, power, counts })');
    if (!(Number.isSafeInteger(n.samples) && n.samples >= 1)) throw new RangeError(`Expected a positive integer of noise samples but received ${n.samples}`);
    if (!(n.power >= 0 && n.power <= 1)) throw new RangeError(`Expected a noise power in [0, 1] but received ${n.power}`);
    if (n.counts.length !== c.vocabSize || !n.counts.every((x) => Number.isFinite(x) && x >= 0)) {
      throw new RangeError(`Expected ${c.vocabSize} word counts >= 0 for the noise distribution`);
    }
  },
  tensors: wordTensors,
  scores: (c) => (c.noise ? c.noise.samples + 1 : c.vocabSize),
  build,
  describe: (c) => `sampled softmax (${c.noise?.samples ?? '?'} noise words)`,
  fromData: (d, o) => ({
    noise: { samples: (o.noiseSamples as number | undefined) ?? DEFAULT_NOISE_SAMPLES, power: (o.noisePower as number | undefined) ?? DEFAULT_NOISE_POWER, counts: Array.from(d.counts) },
  }),
  // Its weights are a full softmax's: the exports are the full softmax's.
  onnx: fullOnnx,
  pytorch: fullPytorch,
};
