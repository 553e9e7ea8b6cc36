/**
 * Sampled softmax: the sampler draws the unigram^power distribution (chi-square, fixed seed) as a pure function of
 * (seed, iteration); the training objective is what its definition says (checked against a direct computation) and
 * its gradients pass finite differences (gradcheck.test.ts, whole models); evaluation is the exact full softmax
 * over the same weights; js and native agree.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AliasTable, LanguageModel, TimeSampledSoftmaxWithLoss, type ModelConfig } from '../src';
import { backends, logRecords, lossAndGrads, rnnlm, expectClose, randomArray, randomIds } from './helpers';

const V = 13, H = 5, N = 3, T = 4;
const COUNTS = [50, 30, 20, 12, 9, 7, 5, 4, 3, 2, 1, 1, 0];

describe('the noise sampler', () => {
  it('draws the unigram distribution raised to the power (chi-square at 1e-3 for 12 degrees of freedom)', () => {
    const table = new AliasTable(COUNTS.map((c) => Math.max(c, 1) ** 0.75));
    const layer = new TimeSampledSoftmaxWithLoss(new Float32Array(H * V), new Float32Array(V), H, V, COUNTS, 1000, 0.75,
      { dW: new Float32Array(H * V), db: new Float32Array(V) });
    const seen = new Float64Array(V);
    for (let it = 0; it < 100; it++) for (const w of layer.draw({ seed: 7, iteration: it })) seen[w]++;
    const n = 100 * 1000;
    let chi2 = 0;
    for (let w = 0; w < V; w++) chi2 += (seen[w] - n * table.q[w]) ** 2 / (n * table.q[w]);
    expect(chi2).toBeLessThan(32.9); // the 0.999 quantile of chi-square with 12 degrees of freedom
    expect(table.q[12]).toBeCloseTo(1 / COUNTS.reduce((a, c) => a + Math.max(c, 1) ** 0.75, 0), 10); // unseen words count once
    // A pure function of (seed, iteration).
    expect(Array.from(layer.draw({ seed: 7, iteration: 5 }))).toEqual(Array.from(layer.draw({ seed: 7, iteration: 5 })));
    expect(Array.from(layer.draw({ seed: 7, iteration: 5 }))).not.toEqual(Array.from(layer.draw({ seed: 7, iteration: 6 })));
  });
});

describe.each(backends().map((b) => [b.name, b] as const))('TimeSampledSoftmaxWithLoss on %s', (_n, backend) => {
  it.each([false, true])('computes the sampled-softmax loss of its definition (transposed %s)', (transposed) => {
    const W = randomArray(H * V, 1), b = randomArray(V, 2), h = randomArray(N * T * H, 3).map((x) => 2 * x);
    const ts = randomIds(N * T, V, 4);
    ts[2] = -1;
    const k = 6;
    const layer = new TimeSampledSoftmaxWithLoss(W, b, H, V, COUNTS, k, 0.75, { backend, transposed, dW: new Float32Array(H * V), db: new Float32Array(V) });
    const loss = layer.forward(h, ts, N, T, { seed: 1, iteration: 9 });
    const noise = Array.from(layer.noise);
    const q = layer.sampler.q;
    const score = (r: number, w: number): number => {
      let s = b[w];
      for (let i = 0; i < H; i++) s += h[r * H + i] * (transposed ? W[w * H + i] : W[i * V + w]);
      return s - Math.log(k * q[w]);
    };
    let sum = 0, count = 0;
    for (let r = 0; r < N * T; r++) {
      const t = ts[r];
      if (t === -1) continue;
      const logits = [score(r, t), ...noise.filter((w) => w !== t).map((w) => score(r, w))];
      const m = Math.max(...logits);
      sum += m + Math.log(logits.reduce((a, x) => a + Math.exp(x - m), 0)) - logits[0];
      count++;
    }
    expect(Math.abs(loss - sum / count) / loss).toBeLessThan(1e-5);
  });
});

describe('sampled output in a model', () => {
  const config = (): Partial<ModelConfig> & { vocabSize: number } => ({
    cell: 'lstm', vocabSize: V, wordvecSize: H, hiddenSize: H, tied: true, dropout: 0.2, output: 'sampled',
    noise: { samples: 4, power: 0.75, counts: COUNTS },
  });

  it('evaluates with the exact full softmax over the same weights', () => {
    const sampled = new LanguageModel(config(), { backend: 'js', seed: 3 });
    const full = new LanguageModel({ ...config(), output: 'full', noise: undefined }, { backend: 'js', seed: 3 });
    expectClose('same initial weights', full.flatParams, sampled.flatParams, 0);
    const xs = randomIds(N * T, V, 5), ts = randomIds(N * T, V, 6);
    const exact = full.eval().forward(xs, ts, N, T);
    expect(sampled.eval().forward(xs, ts, N, T)).toBeCloseTo(exact, 6);
    expect(sampled.evaluator().forward(xs, ts, N, T)).toBeCloseTo(exact, 6);
    // Training draws noise: another number.
    sampled.train();
    sampled.resetState();
    expect(Math.abs(sampled.forward(xs, ts, N, T, { iteration: 1 }) - exact)).toBeGreaterThan(1e-3);
  });

  const [js, native] = backends();
  (native ? it : it.skip)('js and native give the same loss and gradients (1e-5)', () => {
    const [a, b] = [js, native!].map((backend) => new LanguageModel(config(), { backend, seed: 9 }));
    b.setParams(a.flatParams);
    const xs = randomIds(N * T, V, 10), ts = randomIds(N * T, V, 11);
    const [ra, rb] = [a, b].map((m) => lossAndGrads(m, xs, ts, N, T, 3));
    expect(Math.abs(ra.loss - rb.loss) / ra.loss).toBeLessThan(1e-5);
    expectClose('gradients', rb.grads, ra.grads, 1e-5);
  });

  it('refuses a sampled model without its noise, and noise without the sampled layer', () => {
    expect(() => new LanguageModel({ ...config(), noise: undefined })).toThrow('The sampled output layer needs its noise distribution');
    expect(() => new LanguageModel({ ...config(), output: 'full' })).toThrow("noise is for the sampled output layer, not 'full'");
    expect(() => new LanguageModel({ ...config(), noise: { samples: 0, power: 0.75, counts: COUNTS } })).toThrow('Expected a positive integer of noise samples but received 0');
    expect(() => new LanguageModel({ ...config(), noise: { samples: 3, power: 0.75, counts: [1, 2] } })).toThrow(`Expected ${V} word counts >= 0`);
  });
});

describe('rnnlm train --output sampled', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-sampled-'));
  const args = ['train', '--output', 'sampled', '--noise-samples', '64', '--corpus-size', '20000', '--full-vocab', '--batch-size', '10',
    '--time-size', '10', '--lr', '1', '--max-grad', '0.25', '--eval-interval', '50', '--valid', '--workers', '2'];

  it('validates with the exact full softmax (as rnnlm eval), and a resumed run draws the same noise', () => {
    const W = path.join(tmp, 'full.safetensors'), log = path.join(tmp, 'full.jsonl');
    const r = rnnlm(...args, '--max-epoch', '2', '--log', log, '--save', W);
    expect(r.err).toBe('');
    expect(r.out).toContain('sampled softmax (64 noise words)');
    const valid = logRecords(log).filter((x) => x.type === 'epoch').at(-1)!.val_ppl!;
    expect(rnnlm('eval', W, '--split', 'valid', '--batch-size', '10', '--time-size', '35').out).toContain(`perplexity ${valid.toFixed(2)}`);
    const ckpt = path.join(tmp, 'run.ckpt'), part = path.join(tmp, 'part.jsonl');
    expect(rnnlm(...args, '--max-epoch', '1', '--checkpoint', ckpt, '--log', part).code).toBe(0);
    expect(rnnlm(...args, '--max-epoch', '2', '--resume', ckpt, '--log', part).err).toBe('');
    const a = logRecords(log), b = logRecords(part);
    expectClose('perplexities', b.map((x) => x.ppl), a.map((x) => x.ppl), 1e-5);
    expectClose('validation', b.flatMap((x) => x.val_ppl ?? []), a.flatMap((x) => x.val_ppl ?? []), 1e-5);
    // Its weights are a full softmax: the exports take them.
    expect(rnnlm('export', W, '--onnx', path.join(tmp, 'm.onnx')).code).toBe(0);
  });

  it('refuses noise flags without --output sampled', () => {
    expect(rnnlm('train', '--noise-samples', '5')).toMatchObject({ code: 2, err: 'rnnlm: --noise-samples needs --output sampled\n' });
    const r = rnnlm('train', '--output', 'sampled', '--noise-power', '2');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--noise-power.*'2' is invalid. Expected a number in \[0, 1\]/);
  });
});
