import { LanguageModel, RnnlmTrainer, SGD, SimpleRnnlm, TrainingDivergedError, TrainingInterruptedError, clipGrads, evalPerplexity, jsBackend, type Communicator } from '../src';
import { backends, expectClose } from './helpers';
import { formatPerplexity } from '../src/trainer';

describe('RnnlmTrainer', () => {
  const corpus = Int32Array.from({ length: 300 }, (_, i) => (i * 7) % 11);
  const xs = corpus.subarray(0, -1), ts = corpus.subarray(1);

  it('blames the weights, not the learning rate, when the first loss is not finite', async () => {
    const model = new SimpleRnnlm(11, 4, 5, { backend: 'js' });
    model.param('affine.b')[3] = NaN;
    const trainer = new RnnlmTrainer(model, new SGD(0.1, { backend: 'js' }));
    const err = await trainer.fit(xs, ts, { maxEpoch: 2, batchSize: 2, timeSize: 5 }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('the initial weights give a loss of NaN on the first batch, before any update: they overflow');
  });

  it('stops at the first iteration whose loss is not finite, naming epoch and iteration', async () => {
    const model = new SimpleRnnlm(11, 4, 5, { backend: 'js' });
    const trainer = new RnnlmTrainer(model, new SGD(1e30, { backend: 'js' }));
    const err = await trainer.fit(xs, ts, { maxEpoch: 2, batchSize: 2, timeSize: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingDivergedError);
    expect((err as TrainingDivergedError).message).toMatch(/^loss became [-+.\deNaInfity]+ at epoch 1, iteration 2: training diverged; lower --lr or set --max-grad$/);
  });

  it('reports every evalInterval iterations and per epoch, and refuses impossible settings', async () => {
    const model = new SimpleRnnlm(11, 4, 5, { backend: 'js', seed: 2 });
    const trainer = new RnnlmTrainer(model, new SGD(0.5, { backend: 'js' }));
    const iters: number[] = [];
    const reports = await trainer.fit(xs, ts, {
      maxEpoch: 3, batchSize: 3, timeSize: 4, evalInterval: 10, onReport: (r) => iters.push(r.iter),
    });
    // 299 positions / 12 per iteration = 24 iterations; reports at iterations 1, 11, 21 of each epoch.
    expect(iters).toEqual([1, 11, 21, 1, 11, 21, 1, 11, 21]);
    expect(reports.map((r) => r.epoch)).toEqual([1, 2, 3]);
    expect(trainer.epochPpl[2]).toBeLessThan(trainer.epochPpl[0]);
    await expect(trainer.fit(xs, ts, { batchSize: 30, timeSize: 10 })).rejects.toThrow(/exceeds the corpus of 299 tokens/);
    await expect(trainer.fit(xs, ts, { batchSize: 0 })).rejects.toThrow(/positive integer for batchSize/);
    await expect(trainer.fit(xs, ts, { maxGrad: -1 })).rejects.toThrow('Expected a positive number for maxGrad but received -1');
    await expect(trainer.fit(Int32Array.from(xs, (x) => x + 5), ts, { batchSize: 2, timeSize: 5 })).rejects.toThrow(/outside the model's vocabulary of 11/);
  });

  it("clips the global gradient norm as the book's clip_grads", () => {
    const a = Float32Array.from([3, 0]), b = Float32Array.from([0, 4]);
    const norm = clipGrads([a, b], 1, jsBackend);
    expect(norm).toBeCloseTo(5, 6);
    expect(a[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    expect(b[1]).toBeCloseTo(4 / (5 + 1e-6), 6);
    const c = Float32Array.from([0.3, 0.4]);
    clipGrads([c], 1, jsBackend);
    expect(Array.from(c)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });

  it.each(backends().flatMap((b) => [[b.name, 1, b], [b.name, 2, b]] as const))(
    'resumes mid-epoch exactly on %s with %i worker(s)', async (_n, workers, backend) => {
      const fit = { maxEpoch: 3, batchSize: 4, timeSize: 5, evalInterval: 3, workers };
      const ref = new SimpleRnnlm(11, 4, 5, { backend, seed: 3 });
      const refTrainer = new RnnlmTrainer(ref, new SGD(0.5, { backend }));
      await refTrainer.fit(xs, ts, fit);

      const model = new SimpleRnnlm(11, 4, 5, { backend, seed: 3 });
      const stop = new AbortController();
      const first = new RnnlmTrainer(model, new SGD(0.5, { backend }));
      const err = await first.fit(xs, ts, { ...fit, signal: stop.signal, onStep: (p) => p.epoch === 2 && p.iter === 5 && stop.abort() })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TrainingInterruptedError);
      const state = (err as TrainingInterruptedError).state;
      expect([state.epoch, state.iter]).toEqual([2, 5]);
      // A new process would rebuild the model from the checkpoint: weights and hidden state.
      const resumed = new SimpleRnnlm(11, 4, 5, { backend });
      resumed.setParams(model.flatParams);
      resumed.setState(model.getState()!);
      const second = new RnnlmTrainer(resumed, new SGD(0.5, { backend }));
      await second.fit(xs, ts, { ...fit, resume: state });
      expectClose('epoch perplexities', [...first.epochPpl, ...second.epochPpl], refTrainer.epochPpl, 1e-5);
      expectClose('parameters', resumed.flatParams, ref.flatParams, 1e-5);
    });

  it.each(backends().flatMap((b) => [[b.name, 1, b], [b.name, 2, b]] as const))(
    'resumes a 2-layer LSTM with dropout mid-epoch exactly on %s with %i worker(s)', async (_n, workers, backend) => {
      const config = { cell: 'lstm', layers: 2, vocabSize: 11, wordvecSize: 5, hiddenSize: 5, dropout: 0.4, tied: true } as const;
      const fit = { maxEpoch: 3, batchSize: 4, timeSize: 5, evalInterval: 3, maxGrad: 1, workers };
      const ref = new LanguageModel(config, { backend, seed: 3 });
      const refTrainer = new RnnlmTrainer(ref, new SGD(0.5, { backend }));
      await refTrainer.fit(xs, ts, fit);

      const model = new LanguageModel(config, { backend, seed: 3 });
      const stop = new AbortController();
      const first = new RnnlmTrainer(model, new SGD(0.5, { backend }));
      const err = await first.fit(xs, ts, { ...fit, signal: stop.signal, onStep: (p) => p.epoch === 2 && p.iter === 7 && stop.abort() })
        .catch((e: unknown) => e);
      const state = (err as TrainingInterruptedError).state;
      expect([state.epoch, state.iter]).toEqual([2, 7]);
      // A new process: the architecture, weights and every layer's h and c; a fresh model's own counters are 0.
      const resumed = new LanguageModel(config, { backend, seed: 3 });
      resumed.setParams(model.flatParams);
      resumed.setState(model.getState()!);
      const second = new RnnlmTrainer(resumed, new SGD(0.5, { backend }));
      await second.fit(xs, ts, { ...fit, resume: state });
      expectClose('epoch perplexities', [...first.epochPpl, ...second.epochPpl], refTrainer.epochPpl, 1e-5);
      expectClose('parameters', resumed.flatParams, ref.flatParams, 1e-5);
    });
});

describe('formatPerplexity', () => {
  it('writes whole numbers below a million and 3 significant digits above', () => {
    expect(formatPerplexity(417.4)).toBe('417');
    expect(formatPerplexity(999999.4)).toBe('999999');
    expect(formatPerplexity(4.76388486630374e28)).toBe('4.76e+28');
  });
});

describe('evalPerplexity over ranks', () => {
  it('splits the rows of every window among the ranks and adds their loss sums: the one-process perplexity', () => {
    const model = new LanguageModel({ cell: 'lstm', layers: 1, vocabSize: 30, wordvecSize: 8, hiddenSize: 8 }, { backend: jsBackend, seed: 4 });
    const corpus = Int32Array.from({ length: 700 }, (_, i) => (i * 7 + (i % 11)) % 30);
    const whole = evalPerplexity(model, corpus, 5, 6);
    // Two ranks in one process: each communicator answers its allgather with the other rank's sum, found by running
    // that rank first (rank 1 with a zero for rank 0, whose value it never needs to know).
    const sums: number[] = [0, 0];
    const rank = (k: number, other: number): Communicator => ({
      rank: k, size: 2, localSize: 1, localRank: k, sumOrdered: () => { throw new Error('not used'); }, stepExecutor: () => { throw new Error('not used'); },
      allgather: (send, recv) => {
        sums[k] = send[0];
        recv[k] = send[0];
        recv[1 - k] = other;
      },
    });
    evalPerplexity(model, corpus, 5, 6, undefined, rank(1, 0));
    const split = evalPerplexity(model, corpus, 5, 6, undefined, rank(0, sums[1]));
    expect(sums[0]).not.toBe(0);
    expect(sums[1]).not.toBe(0);
    expect(Math.abs(split / whole - 1)).toBeLessThan(1e-12);
    // More ranks than rows: every rank evaluates all of them.
    expect(evalPerplexity(model, corpus, 5, 6, undefined, { ...rank(0, 0), size: 6 })).toBe(whole);
  });
});
