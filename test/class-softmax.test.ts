/**
 * The class-factored output layer: an exact distribution (log-probabilities sum to 1 over the vocabulary, and the
 * training loss is their mean at the targets), gradients by finite differences (gradcheck.test.ts checks whole
 * models), js vs native, the frequency classes, the weights file, and the CLI's --output class.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  LanguageModel, TimeClassSoftmaxWithLoss, frequencyClasses, frequencyOrder, modelTensors, parseWeights, serializeSafetensors, weightsToBytes,
  type Backend, type ModelConfig,
} from '../src';
import { backends, logRecords, lossAndGrads, rnnlm, expectClose, randomArray, randomIds } from './helpers';

const N = 4, T = 5, H = 6, V = 11;
const BOUNDS = [0, 1, 3, 7, V];

function layer(backend: Backend, transposed: boolean): TimeClassSoftmaxWithLoss {
  const W = randomArray(H * V, 1).map((v) => 2 * v), b = randomArray(V, 2), Wc = randomArray(H * 4, 3).map((v) => 2 * v), bc = randomArray(4, 4);
  return new TimeClassSoftmaxWithLoss(W, b, Wc, bc, BOUNDS, H, V, {
    backend, transposed, dW: new Float32Array(H * V), db: new Float32Array(V), dWc: new Float32Array(H * 4), dbc: new Float32Array(4),
  });
}

describe.each(backends().map((b) => [b.name, b] as const))('TimeClassSoftmaxWithLoss on %s', (_n, backend) => {
  it.each([false, true])('is a distribution over the vocabulary whose mean at the targets is the loss (transposed %s)', (transposed) => {
    const l = layer(backend, transposed);
    const h = randomArray(N * T * H, 5).map((v) => 3 * v);
    const ts = randomIds(N * T, V, 6);
    ts[3] = -1;
    ts[7] = -1;
    const lp = l.logProbs(new Float32Array(N * T * V), h, N, T);
    let nll = 0;
    for (let r = 0; r < N * T; r++) {
      let sum = 0;
      for (let w = 0; w < V; w++) sum += Math.exp(lp[r * V + w]);
      expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
      if (ts[r] !== -1) nll -= lp[r * V + ts[r]];
    }
    const loss = l.forward(h, ts, N, T);
    expect(Math.abs(loss - nll / (N * T - 2)) / loss).toBeLessThan(1e-5);
  });

  it('refuses boundaries that do not cut the vocabulary into classes, and targets outside it', () => {
    const z = (n: number) => new Float32Array(n);
    const make = (bounds: number[]) => new TimeClassSoftmaxWithLoss(z(H * V), z(V), z(H * 2), z(2), bounds, H, V, { backend, dW: z(H * V), db: z(V), dWc: z(H * 2), dbc: z(2) });
    expect(() => make([0, 5])).toThrow(`Expected class boundaries from 0 to the vocabulary size ${V} but received 0 .. 5`);
    expect(() => make([0, 5, 5, V])).toThrow('Expected increasing integer class boundaries but boundary 2 is 5 after 5');
    expect(() => make([0])).toThrow('of at least 2 entries');
    const l = layer(backend, false);
    expect(() => l.forward(z(N * T * H), new Int32Array(N * T).fill(V), N, T)).toThrow(`Expected ts[0] in [0, ${V}) or -1 but received ${V}`);
  });
});

describe('class output, native vs js', () => {
  const [js, native] = backends();
  (native ? it : it.skip)('gives the same loss, gradients and log-probabilities (1e-5)', () => {
    const config: Partial<ModelConfig> & { vocabSize: number } = { cell: 'lstm', layers: 2, vocabSize: V, wordvecSize: H, hiddenSize: H, tied: true, dropout: 0.3, output: 'class', classBounds: BOUNDS };
    const [a, b] = [js, native!].map((backend) => new LanguageModel(config, { backend, seed: 9 }));
    b.setParams(a.flatParams);
    const xs = randomIds(N * T, V, 10), ts = randomIds(N * T, V, 11);
    const [ra, rb] = [a, b].map((m) => lossAndGrads(m, xs, ts, N, T, 3));
    expect(Math.abs(ra.loss - rb.loss) / ra.loss).toBeLessThan(1e-5);
    expectClose('gradients', rb.grads, ra.grads, 1e-5);
    expectClose('log-probabilities', b.predict(xs, N, T), a.predict(xs, N, T), 1e-5);
  });
});

describe('frequency classes', () => {
  it('renumbers words by frequency and cuts them where the cumulative share passes 1/C, 2/C, ...', () => {
    const ids = Int32Array.from([3, 3, 3, 3, 1, 1, 1, 0, 0, 2, 4, 3, 1, 0, 3, 1, 3, 0, 2, 6]);
    const { order, remap, counts } = frequencyOrder(ids, 7);
    expect(Array.from(order)).toEqual([3, 1, 0, 2, 4, 6, 5]); // 7x, 5x, 4x, 2x, 1x, 1x, 0x (ties by id)
    expect(Array.from(remap)).toEqual([2, 1, 3, 0, 4, 6, 5]);
    expect(Array.from(counts)).toEqual([7, 5, 4, 2, 1, 1, 0]);
    // Shares of 20: .35 passes 1/3 (class 0: word 0 alone); .6 and then .8, which passes 2/3 (class 1: words 1-2).
    expect(frequencyClasses(counts, 3)).toEqual([0, 1, 3, 7]);
    // A frequent word cannot take two classes: fewer classes than asked.
    expect(frequencyClasses([90, 5, 5], 5)).toEqual([0, 1, 2, 3]);
    expect(frequencyClasses([97, 1, 1, 1], 3)).toEqual([0, 1, 2, 4]);
    expect(frequencyClasses([5, 4, 3], 1)).toEqual([0, 3]);
  });
});

describe('class output in files', () => {
  it('round-trips its architecture and boundaries, and is refused without them', () => {
    const model = new LanguageModel({ cell: 'rnn', vocabSize: V, wordvecSize: H, hiddenSize: H, output: 'class', classBounds: BOUNDS }, { seed: 2 });
    const w = parseWeights(weightsToBytes(model));
    expect(w.config).toMatchObject({ output: 'class', classBounds: BOUNDS });
    expect(w.tensors.get('class.W')!.shape).toEqual([H, 4]);
    // Without the architecture the boundaries are unknown: refused, naming why.
    expect(() => parseWeights(serializeSafetensors(modelTensors(model)))).toThrow("tensors 'class.W' and 'class.b' of a class output layer need __metadata__.architecture (its class boundaries)");
  });
});

describe('rnnlm train --output class', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-class-'));
  const args = ['train', '--output', 'class', '--classes', '30', '--corpus-size', '20000', '--full-vocab', '--batch-size', '10',
    '--time-size', '10', '--lr', '1', '--max-grad', '0.25', '--eval-interval', '50', '--valid', '--workers', '2'];

  it('trains, validates and tests on frequency-numbered words; eval of the saved file agrees; a resumed run is exact', () => {
    const W = path.join(tmp, 'full.safetensors'), log = path.join(tmp, 'full.jsonl');
    const r = rnnlm(...args, '--max-epoch', '2', '--test', '--log', log, '--save', W);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const classes = Number(/model rnn 100\/100, (\d+) word classes/.exec(r.out)![1]);
    expect(classes).toBeGreaterThan(20);
    expect(classes).toBeLessThanOrEqual(30);
    // The test split is read with PTB's numbering and renumbered for the run: rnnlm eval, which maps words through
    // the file's vocabulary, gets the same perplexity.
    const test = /rnnlm: test perplexity ([\d.]+) \(ptb\.test\.txt/.exec(r.out)![1];
    expect(rnnlm('eval', W, '--split', 'test', '--batch-size', '10', '--time-size', '35').out).toContain(`perplexity ${test}`);
    expect(Number(test)).toBeLessThan(1000);
    expect(rnnlm('info', W).out).toContain(`class output (${classes} word classes)`);
    // One epoch, a checkpoint, and the same command resumed to two: the same numbers.
    const ckpt = path.join(tmp, 'run.ckpt'), part = path.join(tmp, 'part.jsonl');
    expect(rnnlm(...args, '--max-epoch', '1', '--checkpoint', ckpt, '--log', part).code).toBe(0);
    const again = rnnlm(...args, '--max-epoch', '2', '--resume', ckpt, '--log', part);
    expect(again.err).toBe('');
    const a = logRecords(log), b = logRecords(part);
    expect(b.map((x) => [x.type, x.epoch])).toEqual(a.map((x) => [x.type, x.epoch]));
    expectClose('perplexities', b.map((x) => x.ppl), a.map((x) => x.ppl), 1e-5);
    expectClose('validation', b.flatMap((x) => x.val_ppl ?? []), a.flatMap((x) => x.val_ppl ?? []), 1e-5);
  });

  it('refuses --classes without --output class', () => {
    expect(rnnlm('train', '--classes', '5')).toMatchObject({ code: 2, err: 'rnnlm: --classes needs --output class\n' });
  });
});
