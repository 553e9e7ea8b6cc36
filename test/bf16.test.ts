/**
 * bf16 mixed precision (emulated): the rounding is round-to-nearest-even to bfloat16, a product's error stays
 * within the bound its rounded operands allow (and is not zero: the rounding is on), js and native agree on the
 * rounded numbers, workers give serial's numbers, the seed curve stays within bf16's distance of fp32's, and a
 * bf16 run resumes exactly.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LanguageModel, RnnlmTrainer, SGD, resolveBackend, roundBf16, type Backend, type ModelConfig } from '../src';
import { nativeInfo } from '../src/backend/native';
import { backends, expectClose, logRecords, lossAndGrads, randomArray, randomIds, relError, rnnlm } from './helpers';
import { ref, seedCurve } from './support/seed';

const bf16Backends = (): Backend[] => backends().map((b) => resolveBackend(b.name, 'bf16'));

describe('bfloat16 rounding', () => {
  it('rounds to the nearest bfloat16, ties to even, and keeps NaN and infinities', () => {
    expect(roundBf16(1)).toBe(1);
    expect(roundBf16(1 + 2 ** -8)).toBe(1); // halfway between 1 and 1 + 2^-7: to the even mantissa, 1
    expect(roundBf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6); // halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up
    expect(roundBf16(1 + 2 ** -8 + 2 ** -20)).toBe(1 + 2 ** -7); // just above halfway: up
    expect(roundBf16(-3.14159)).toBe(-3.140625);
    expect(roundBf16(3.4028234663852886e38)).toBe(Infinity); // the largest float rounds past the largest bfloat16
    expect(roundBf16(Infinity)).toBe(Infinity);
    expect(roundBf16(-Infinity)).toBe(-Infinity);
    expect(roundBf16(NaN)).toBeNaN();
    expect(roundBf16(2 ** -130)).toBe(2 ** -130); // a subnormal bfloat16
    expect(roundBf16(2 ** -140)).toBe(0); // below half the smallest bfloat16 subnormal (2^-133)
  });

  it('is the same rounding in the native engine (a product with 1)', () => {
    const a = randomArray(1000, 3).map((v, i) => v * 2 ** ((i % 40) - 20));
    for (const b of bf16Backends()) {
      const c = new Float32Array(1000);
      b.sgemm(false, false, 1000, 1, 1, 1, a, 1, Float32Array.of(1), 1, 0, c, 1);
      expect(Array.from(c)).toEqual(Array.from(a, roundBf16));
    }
  });
});

describe('bf16 products', () => {
  it.each([[17, 33, 300], [64, 200, 100], [5, 3, 2000]])('M=%i N=%i K=%i: within the bound of the rounded operands, on both backends alike', (M, N, K) => {
    const A = randomArray(M * K, 11), B = randomArray(K * N, 12);
    const outs = bf16Backends().map((b) => {
      const C = new Float32Array(M * N);
      b.sgemm(false, false, M, N, K, 1, A, K, B, N, 0, C, N);
      return C;
    });
    let errSq = 0, refSq = 0;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let exact = 0, abs = 0;
        for (let k = 0; k < K; k++) {
          exact += A[i * K + k] * B[k * N + j];
          abs += Math.abs(A[i * K + k] * B[k * N + j]);
        }
        // Each operand within 2^-9 (relative) of itself: a product within about 2^-8, plus float32 sums.
        const err = Math.abs(outs[0][i * N + j] - exact);
        expect(err).toBeLessThanOrEqual((2 ** -8 + K * 2 ** -24) * abs);
        errSq += err * err;
        refSq += exact * exact;
      }
    }
    // The relative error of the product: bfloat16's (about 2^-9 per operand), far above float32's (2^-24).
    const rel = Math.sqrt(errSq / refSq);
    expect(rel).toBeGreaterThan(2 ** -12);
    expect(rel).toBeLessThan(2 ** -6);
    if (outs.length === 2) expectClose('js vs native', outs[1], outs[0], 1e-5);
  });

  const CONFIGS = {
    rnn: { cell: 'rnn', layers: 2, vocabSize: 30, wordvecSize: 8, hiddenSize: 8, dropout: 0.2, tied: true },
    lstm: { cell: 'lstm', layers: 2, vocabSize: 30, wordvecSize: 8, hiddenSize: 8, dropout: 0.2, tied: true },
    gru: { cell: 'gru', layers: 2, vocabSize: 30, wordvecSize: 8, hiddenSize: 8, dropout: 0.2, tied: true },
    // The class output's per-class products (a new shape nearly every call) run on rounded operands and OpenBLAS.
    'lstm with class output': { cell: 'lstm', layers: 1, vocabSize: 30, wordvecSize: 8, hiddenSize: 8, output: 'class', classBounds: [0, 3, 9, 17, 30] },
  } as const satisfies Record<string, Partial<ModelConfig>>;

  it.each(Object.keys(CONFIGS) as (keyof typeof CONFIGS)[])('a %s model after an update: js and native give the same loss and gradients in bf16 (1e-5), and not fp32\'s', (name) => {
    const all = bf16Backends();
    const config = CONFIGS[name];
    const xs = randomIds(12, 30, 1), ts = randomIds(12, 30, 2);
    // Two steps, the weights updated between them: a bf16 copy of the old weights would show in the second.
    const run = (b: Backend) => {
      const model = new LanguageModel(config, { backend: b, seed: 4 });
      lossAndGrads(model, xs, ts, 3, 4, 1);
      b.sgdUpdate(model.flatParams, model.flatGrads, 0.5);
      return lossAndGrads(model, xs, ts, 3, 4, 2);
    };
    const r = all.map(run);
    if (r.length === 2) {
      expect(Math.abs(r[1].loss - r[0].loss)).toBeLessThan(1e-5);
      expectClose('gradients', r[1].grads, r[0].grads, 1e-5);
    }
    // bf16's rounding shows in the gradients (the same backend in float32 is deterministic), and stays small.
    const fp32 = run(backends()[0]);
    expect(relError(r[0].grads, fp32.grads)).toBeGreaterThan(5e-6);
    expect(relError(r[0].grads, fp32.grads)).toBeLessThan(1e-2);
    expect(Math.abs(fp32.loss - r[0].loss)).toBeLessThan(1e-3 * fp32.loss);
  });
});

describe.each(backends().map((b) => [b.name, b] as const))('bf16 training on %s', (name, fp32) => {
  const backend = resolveBackend(fp32.name, 'bf16');

  it('2 workers match serial (1e-4) with dropout on', async () => {
    const corpus = randomIds(3000, 40, 9);
    const runWith = async (workers: number) => {
      const model = new LanguageModel({ cell: 'lstm', vocabSize: 40, wordvecSize: 10, hiddenSize: 10, dropout: 0.3 }, { backend, seed: 5 });
      const losses: number[] = [];
      await new RnnlmTrainer(model, new SGD(0.5, { backend })).fit(corpus.subarray(0, 6 * 4 * 30), corpus.subarray(1, 6 * 4 * 30 + 1), {
        maxEpoch: 1, batchSize: 6, timeSize: 4, maxGrad: 5, evalInterval: 1, workers, onReport: (r) => losses.push(Math.log(r.ppl)),
      });
      return { losses, params: model.flatParams };
    };
    const serial = await runWith(1), par = await runWith(2);
    expect(par.losses).toHaveLength(30);
    expectClose('losses', par.losses, serial.losses, 1e-4);
    expectClose('parameters', par.params, serial.params, 1e-4);
  });

  it('follows the seed curve within bfloat16\'s distance of float32\'s', async () => {
    const epochs = name === 'js' ? 12 : 100;
    const ppl = await seedCurve(backend, epochs);
    // Measured: within 8.3e-4 of the float32 reference to epoch 10, 1.7e-3 to 40, 3.2e-3 to 70, 5% from 71 on
    // (float32 itself: 3e-6 to 40, 5e-3 to 85; the late epochs are chaotic in either precision).
    ppl.forEach((p, i) => {
      const e = i + 1, r = ref.ppl[i];
      const tol = e <= 10 ? 2e-3 : e <= 40 ? 4e-3 : e <= 70 ? 8e-3 : 0.08;
      if (!(Math.abs(p - r) <= tol * r)) throw new Error(`epoch ${e}: bf16 perplexity ${p} is not within ${tol} of ${r}`);
    });
    // The rounding is on: by epoch 10 bf16 has left float32's curve (float32 stays within 3e-6 of it).
    expect(Math.abs(ppl[9] - ref.ppl[9]) / ref.ppl[9]).toBeGreaterThan(1e-5);
  });
});

describe('rnnlm train --precision bf16', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-bf16-'));

  it('says so, and a bf16 run continued from its checkpoint matches the uninterrupted run; the checkpoint keeps its precision', () => {
    const args = ['train', '--corpus-size', '2000', '--lr', '0.5', '--precision', 'bf16', '--model', 'lstm', '--dropout', '0.2'];
    const full = rnnlm(...args, '--max-epoch', '3', '--log', path.join(tmp, 'full.jsonl'));
    expect(full.code).toBe(0);
    expect(full.out).toContain(`(bf16 products, ${resolveBackend('native').bf16Engine})`);
    const ckpt = path.join(tmp, 'run.ckpt');
    expect(rnnlm(...args, '--max-epoch', '2', '--log', path.join(tmp, 'part.jsonl'), '--checkpoint', ckpt).code).toBe(0);
    expect(rnnlm('info', ckpt).out).toMatch(/^training state: epoch 3, 0 iterations done; lr 0\.5; bf16 products$/m);
    const resumed = rnnlm('train', '--resume', ckpt, '--max-epoch', '3');
    expect(resumed.code).toBe(0);
    expect(resumed.out).toContain(`(bf16 products, ${resolveBackend('native').bf16Engine})`);
    const epochs = (f: string) => logRecords(f).filter((r) => r.type === 'epoch').map((r) => r.ppl);
    expect(epochs(path.join(tmp, 'part.jsonl'))).toEqual(epochs(path.join(tmp, 'full.jsonl')));
    const fp32 = rnnlm('train', '--corpus-size', '2000', '--lr', '0.5', '--model', 'lstm', '--dropout', '0.2', '--max-epoch', '3');
    expect(fp32.out.trim().split('\n').pop()).not.toBe(full.out.trim().split('\n').pop());
    const changed = rnnlm('train', '--resume', ckpt, '--precision', 'fp32');
    expect(changed.code).toBe(2);
    expect(changed.err).toMatch(/--precision "fp32" differs from .*run\.ckpt, whose run has "bf16"/);
    const bad = rnnlm('train', '--precision', 'fp16');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--precision.*fp16.*(fp32|bf16)/);
  });

  it('rnnlm info says how bf16 runs', () => {
    const n = nativeInfo();
    const line = !n ? /^bf16: emulated \(/m : !n.dnnl ? /^bf16: emulated .*built without oneDNN/m
      : n.avx512bf16 ? /^bf16: native \(oneDNN bf16 matmuls on this CPU's AVX512_BF16/m : /^bf16: emulated by oneDNN/m;
    expect(rnnlm('info').out).toMatch(line);
  });
});
