import * as path from 'node:path';
import { loadPtb, modelFromWeights, readWeights, RnnlmTrainer, SGD, type Backend } from '../../src';
import { FIXTURES, PTB_DIR, readFixture } from '../helpers';

interface Curve {
  config: { corpus_size: number; batch_size: number; time_size: number; lr: number; max_epoch: number; vocab_size: number };
  ppl: number[];
}
export const ref = readFixture<Curve>('seed-config-ppl.json');

export async function seedCurve(backend: Backend, epochs: number, fit?: Parameters<RnnlmTrainer['fit']>[2]): Promise<number[]> {
  const { corpus } = await loadPtb('train', { dir: PTB_DIR });
  const c = corpus.subarray(0, ref.config.corpus_size);
  const model = modelFromWeights(readWeights(path.join(FIXTURES, 'seed-config-init.safetensors')), { backend });
  expect(model.vocabSize).toBe(ref.config.vocab_size);
  const trainer = new RnnlmTrainer(model, new SGD(ref.config.lr, { backend }));
  await trainer.fit(c.subarray(0, c.length - 1), c.subarray(1), {
    maxEpoch: epochs, batchSize: ref.config.batch_size, timeSize: ref.config.time_size, ...fit,
  });
  return trainer.epochPpl;
}

/**
 * The relative tolerance for epoch e (1-based). The first epochs agree with the NumPy reference to about 1e-6
 * (float32 summation order is the only difference); training is chaotic enough that the difference grows to a few
 * percent by epoch 100. Measured: <= 3e-6 to epoch 40, <= 2e-5 to 80, <= 3e-4 to 91, 3% at 100.
 */
export function curveTolerance(e: number): number {
  if (e <= 40) return 5e-5;
  if (e <= 70) return 5e-4;
  if (e <= 85) return 5e-3;
  return 0.08;
}

export function expectOnCurve(ppl: number[]): void {
  ppl.forEach((p, i) => {
    const r = ref.ppl[i], tol = curveTolerance(i + 1);
    if (!(Math.abs(p - r) <= tol * r)) throw new Error(`epoch ${i + 1}: perplexity ${p} is not within ${tol} (relative) of ${r}`);
  });
}
