/**
 * The class-factored output layer: an exact distribution (log-probabilities sum to 1 over the vocabulary, and the
 * training loss is their mean at the targets), gradients by finite differences (gradcheck.test.ts checks whole
 * models), the split a parallel step makes of it (class part by rows, words by classes) against forward and
 * backward, js vs native, the frequency and exchange classes, the weights file, and the CLI's --output class.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  LanguageModel, TimeClassSoftmaxWithLoss, frequencyClasses, frequencyOrder, modelTensors, parseWeights, serializeSafetensors, weightsToBytes,
  classBigramObjective, classNumbering, exchangeClasses, wordClasses, Random, type Backend, type ModelConfig,
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

  it.each([false, true])('split as a parallel step splits it (class part by rows, words by class ranges), makes forward and backward (transposed %s)', (transposed) => {
    const R = N * T, h = randomArray(R * H, 7).map((v) => 3 * v), ts = randomIds(R, V, 8);
    ts[5] = -1;
    const whole = layer(backend, transposed), split = layer(backend, transposed);
    const mean = whole.forward(h, ts, N, T);
    const dh = whole.backward(0.7);
    const scale = 0.7 / (R - 1), dhSplit = new Float32Array(R * H).fill(NaN); // every row written by its class part
    let loss = 0;
    for (const [r0, r1] of [[0, 7], [7, R]]) {
      loss += split.stepClasses(h.subarray(r0 * H, r1 * H), ts.subarray(r0, r1), r1 - r0, scale, dhSplit.subarray(r0 * H, r1 * H));
    }
    const parts = split.classParts(ts, 3);
    expect(parts).toHaveLength(4);
    expect(parts[0]).toBe(0);
    expect(parts[3]).toBe(BOUNDS.length - 1);
    for (let k = 0; k < 3; k++) {
      expect(parts[k + 1]).toBeGreaterThanOrEqual(parts[k]);
      loss += split.stepWords(h, ts, R, parts[k], parts[k + 1], scale, dhSplit);
    }
    expect(Math.abs(loss / (R - 1) - mean) / mean).toBeLessThan(1e-6);
    expectClose('dh', dhSplit, dh, 1e-6);
    whole.grads.forEach((g, i) => expectClose(`grad ${i}`, split.grads[i], g, 1e-6));
    // A part of the classes changes only their columns of dW (rows when transposed) and their entries of db.
    const one = layer(backend, transposed);
    one.stepWords(h, ts, R, 1, 2, scale, new Float32Array(R * H));
    for (let w = 0; w < V; w++) {
      const inClass = w >= BOUNDS[1] && w < BOUNDS[2];
      const col = Array.from({ length: H }, (_, i) => one.grads[0][transposed ? w * H + i : i * V + w]);
      expect(col.some((g) => g !== 0)).toBe(inClass);
      expect(one.grads[1][w] !== 0).toBe(inClass);
    }
    expect(one.grads[2].every((g) => g === 0) && one.grads[3].every((g) => g === 0)).toBe(true);
    expect(() => one.stepWords(h, ts, R, 2, 1, scale, new Float32Array(R * H))).toThrow('Expected classes 0 <= c0 <= c1 <= 4 but received 2 .. 1');
  });

  it('cuts the classes into parts of about equal work, every class in one part', () => {
    const l = layer(backend, false);
    // Targets all in class 3 (the largest): one part gets it, the others nothing.
    expect(l.classParts(new Int32Array(20).fill(8), 2)).toEqual([0, 3, 4]);
    const ts = randomIds(400, V, 12);
    for (const parts of [1, 2, 3, 5]) {
      const b = l.classParts(ts, parts);
      expect(b[0]).toBe(0);
      expect(b[parts]).toBe(4);
      for (let k = 0; k < parts; k++) expect(b[k + 1]).toBeGreaterThanOrEqual(b[k]);
    }
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

describe('exchange classes', () => {
  // A corpus drawn from a class bigram model: 4 classes of 6 words (words 0, 4, 8, ... in class 0: the planted
  // classes are not bands of ids), the next class c + 1 (mod 4) with probability 0.85, else any, the word uniform
  // within its class; every word about equally frequent, so frequency classes cut across the planted ones.
  const planted = (w: number): number => w % 4;
  const rng = new Random(11);
  const ids = new Int32Array(20000);
  for (let i = 1, c = 0; i < ids.length; i++) {
    c = rng.uniform() < 0.85 ? (c + 1) % 4 : Math.floor(rng.uniform() * 4);
    ids[i] = 4 * Math.floor(rng.uniform() * 6) + c;
  }

  it('recovers the classes a class-bigram corpus was drawn from, raising the objective from the frequency classes', () => {
    const { remap, counts } = frequencyOrder(ids, 24);
    const bounds = frequencyClasses(counts, 4);
    const init = new Int32Array(24);
    for (let c = 0; c < 4; c++) init.fill(c, bounds[c], bounds[c + 1]);
    const byFrequency = Int32Array.from(ids, (id) => remap[id]);
    const classes = exchangeClasses(byFrequency, 24, init, 4);
    // Two words share an exchange class exactly when they share a planted class.
    for (let a = 0; a < 24; a++) {
      for (let b = 0; b < 24; b++) expect(classes[remap[a]] === classes[remap[b]]).toBe(planted(a) === planted(b));
    }
    const before = classBigramObjective(byFrequency, init, 4), after = classBigramObjective(byFrequency, classes, 4);
    expect(after).toBeGreaterThan(before + 1000);
    // Nothing left to gain: one more pass moves no word.
    expect(Array.from(exchangeClasses(byFrequency, 24, classes, 4, 1))).toEqual(Array.from(classes));
  });

  it('numbers every class as a run of ids, most frequent first within it, for --class-method exchange', () => {
    const { order, remap, counts, bounds } = wordClasses(ids, 24, 4, 'exchange');
    expect(bounds).toEqual([0, 6, 12, 18, 24]);
    for (let c = 0; c < 4; c++) {
      const words = Array.from(order.subarray(bounds[c], bounds[c + 1]));
      expect(new Set(words.map(planted)).size).toBe(1);
      for (let i = 1; i < words.length; i++) expect(counts[bounds[c] + i - 1]).toBeGreaterThanOrEqual(counts[bounds[c] + i]);
    }
    order.forEach((old, i) => expect(remap[old]).toBe(i));
    // Frequency: frequencyOrder and frequencyClasses as they are.
    const f = wordClasses(ids, 24, 4, 'frequency');
    expect(Array.from(f.order)).toEqual(Array.from(frequencyOrder(ids, 24).order));
    expect(f.bounds).toEqual(frequencyClasses(f.counts, 4));
    expect(classNumbering([2, 0, 2, 1, 0])).toEqual({ order: Int32Array.from([1, 4, 3, 0, 2]), remap: Int32Array.from([3, 0, 4, 2, 1]), bounds: [0, 2, 3, 5] });
    expect(() => exchangeClasses([0, 1, 5], 3, [0, 1, 0], 2)).toThrow(new RangeError('Expected word ids in [0, 3) but ids[2] is 5'));
    expect(() => exchangeClasses([0, 1], 2, [0, 2], 2)).toThrow(new RangeError('Expected classes in [0, 2) but word 1 has 2'));
    expect(() => wordClasses([0, 1], 2, 2, 'brown' as never)).toThrow(new RangeError("Unknown class method 'brown': expected frequency or exchange"));
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
  const common = ['train', '--output', 'class', '--classes', '30', '--corpus-size', '20000', '--full-vocab', '--batch-size', '10',
    '--time-size', '10', '--lr', '1', '--max-grad', '0.25', '--eval-interval', '50', '--valid', '--workers', '2'];

  it.each(['frequency', 'exchange'])('trains, validates and tests on words numbered by %s classes; eval of the saved file agrees; a resumed run is exact', (method) => {
    const args = [...common, '--class-method', method];
    const W = path.join(tmp, `${method}.safetensors`), log = path.join(tmp, `${method}.jsonl`);
    const r = rnnlm(...args, '--max-epoch', '2', '--test', '--log', log, '--save', W);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const classes = Number(new RegExp(`model rnn 100/100, class output \\((\\d+) ${method === 'exchange' ? 'exchange' : 'word'} classes\\)`).exec(r.out)![1]);
    expect(classes).toBeGreaterThan(20);
    expect(classes).toBeLessThanOrEqual(30);
    // The test split is read with PTB's numbering and renumbered for the run: rnnlm eval, which maps words through
    // the file's vocabulary, gets the same perplexity.
    const test = /rnnlm: test perplexity ([\d.]+) \(ptb\.test\.txt/.exec(r.out)![1];
    expect(rnnlm('eval', W, '--split', 'test', '--batch-size', '10', '--time-size', '35').out).toContain(`perplexity ${test}`);
    expect(Number(test)).toBeLessThan(1000);
    expect(rnnlm('info', W).out).toContain(`class output (${classes} word classes)`);
    // One epoch, a checkpoint, and the same command resumed to two: the same numbers.
    const ckpt = path.join(tmp, `${method}.ckpt`), part = path.join(tmp, `${method}-part.jsonl`);
    expect(rnnlm(...args, '--max-epoch', '1', '--checkpoint', ckpt, '--log', part).code).toBe(0);
    const other = method === 'exchange' ? 'frequency' : 'exchange';
    expect(rnnlm(...args.slice(0, -1), other, '--max-epoch', '2', '--resume', ckpt).err).toContain(`--class-method "${other}" differs`);
    const again = rnnlm(...args, '--max-epoch', '2', '--resume', ckpt, '--log', part);
    expect(again.err).toBe('');
    const a = logRecords(log), b = logRecords(part);
    expect(b.map((x) => [x.type, x.epoch])).toEqual(a.map((x) => [x.type, x.epoch]));
    expectClose('perplexities', b.map((x) => x.ppl), a.map((x) => x.ppl), 1e-5);
    expectClose('validation', b.flatMap((x) => x.val_ppl ?? []), a.flatMap((x) => x.val_ppl ?? []), 1e-5);
  });

  it('refuses --init weights whose class output numbers the words another way than the run', () => {
    const W = path.join(tmp, 'frequency-init.safetensors');
    const run = ['train', '--output', 'class', '--classes', '5', '--corpus-size', '2000', '--max-epoch', '1'];
    expect(rnnlm(...run, '--save', W).code).toBe(0);
    expect(rnnlm(...run, '--init', W).code).toBe(0);
    expect(rnnlm(...run, '--init', W, '--class-method', 'exchange')).toMatchObject({
      code: 2, err: `rnnlm: --init ${W} has a class output layer over another word numbering than this run's data (class by class, --class-method exchange)\n`,
    });
  });

  it('refuses --classes and --class-method without --output class', () => {
    expect(rnnlm('train', '--classes', '5')).toMatchObject({ code: 2, err: 'rnnlm: --classes needs --output class\n' });
    expect(rnnlm('train', '--class-method', 'exchange')).toMatchObject({ code: 2, err: 'rnnlm: --class-method needs --output class\n' });
  });
});
