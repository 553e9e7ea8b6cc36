/**
 * Data-parallel training on worker threads computes what serial training computes: the same per-iteration losses
 * (1e-4) from the same weights, for 1, 2 and 3 workers and batch sizes not divisible by the worker count; a worker
 * that throws makes fit reject promptly, naming the worker and iteration, with the parameters of the last
 * completed step.
 */
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { LanguageModel, SerialExecutor, SimpleRnnlm, SGD, RnnlmTrainer, jsBackend, type Backend, type ModelConfig } from '../src';
import { ParallelEngine, WORKER_FILE, autoBlasThreads, autoWorkers } from '../src/parallel/engine';
import { getBlasThreads, loadNativeBackend } from '../src/backend/native';
import { REQUIRE_NATIVE, backends, expectClose, randomIds, relError } from './helpers';
import { expectOnCurve, seedCurve } from './support/seed';

const V = 50, D = 8, H = 12;
const corpus = randomIds(4000, V, 77);

/** Losses of the first `iters` iterations (one report per iteration) and the final parameters. */
async function run(backend: Backend, workers: number, N: number, T: number, iters: number, pool?: Piscina,
  config: Partial<ModelConfig> = {}) {
  const model = new LanguageModel({ vocabSize: V, wordvecSize: D, hiddenSize: H, ...config }, { backend, seed: 5 });
  const trainer = new RnnlmTrainer(model, new SGD(0.5, { backend }));
  const losses: number[] = [];
  const n = N * T * iters + 1;
  await trainer.fit(corpus.subarray(0, n - 1), corpus.subarray(1, n), {
    maxEpoch: 1, batchSize: N, timeSize: T, maxGrad: 5, evalInterval: 1, workers, pool,
    onReport: (r) => losses.push(Math.log(r.ppl)),
  });
  expect(trainer.workers).toBe(workers);
  return { losses, params: model.flatParams, h: model.getState()![0], state: model.getState()! };
}

describe.each(backends().map((b) => [b.name, b] as const))('parallel training on %s', (_n, backend) => {
  it.each([[2, 6], [3, 7], [2, 5]])('%i workers match serial for 50 iterations (batch %i)', async (workers, N) => {
    const serial = await run(backend, 1, N, 4, 50);
    const par = await run(backend, workers, N, 4, 50);
    expect(par.losses).toHaveLength(50);
    expectClose('losses', par.losses, serial.losses, 1e-4);
    expectClose('parameters', par.params, serial.params, 1e-4);
    expectClose('hidden state', par.h, serial.h, 1e-4);
  });

  it.each([
    [1, 6, { cell: 'lstm', layers: 2, wordvecSize: H, tied: true, dropout: 0.3 }],
    [2, 6, { cell: 'lstm', layers: 2, wordvecSize: H, tied: true, dropout: 0.3 }],
    [3, 7, { cell: 'lstm', layers: 2, wordvecSize: H, tied: true, dropout: 0.3 }],
    [2, 5, { cell: 'gru', layers: 1, dropout: 0.5 }],
    [2, 6, { cell: 'rnn', layers: 1, dropout: 0.2, output: 'class', classBounds: [0, 3, 9, 20, V] }],
    [3, 7, { cell: 'lstm', layers: 2, wordvecSize: H, tied: true, dropout: 0.3, output: 'class', classBounds: [0, 2, 5, 9, 14, 20, 30, V] }],
    [3, 7, { cell: 'rnn', layers: 1, dropout: 0.2, output: 'sampled', noise: { samples: 8, power: 0.75, counts: Array.from({ length: V }, (_, i) => V - i) } }],
  ] as const)('%i worker(s) match serial with dropout on (batch %i, %j)', async (workers, N, config) => {
    const serial = await run(backend, 1, N, 4, 30, undefined, config);
    const par = await run(backend, workers, N, 4, 30, undefined, config);
    expectClose('losses', par.losses, serial.losses, 1e-4);
    expectClose('parameters', par.params, serial.params, 1e-4);
    par.state.forEach((s, k) => expectClose(`state ${k}`, s, serial.state[k], 1e-4));
    // Dropout really was on: the same run without it ends elsewhere.
    const plain = await run(backend, 1, N, 4, 30, undefined, { ...config, dropout: 0 });
    expect(relError(plain.params, serial.params)).toBeGreaterThan(1e-3);
  });

  it.each([
    ['full', {}],
    ['class', { cell: 'lstm', output: 'class', classBounds: [0, 3, 9, 20, V] }],
  ] as const)('engine steps with and without updates between them: each step the gradient of its own batch, as serial (%s output)', async (_o, extra) => {
    // The workers leave the gradient blocks zero after a reduce and an update; a step that follows a step (no update)
    // or a fresh engine must zero them itself. The class output splits each step's words among the workers.
    const N = 5, T = 4, config: Partial<ModelConfig> & { vocabSize: number } = { vocabSize: V, wordvecSize: D, hiddenSize: H, dropout: 0.2, ...extra };
    const serial = new LanguageModel(config, { backend, seed: 3 }), par = new LanguageModel(config, { backend, seed: 3 });
    par.flatGrads.fill(7); // junk a fresh engine must not add in
    const sgdS = new SGD(0.3, { backend }), sgdP = new SGD(0.3, { backend });
    const engine = new ParallelEngine(par, N, T, { workers: 2 });
    try {
      for (let i = 0; i < 6; i++) {
        const xs = Int32Array.from(corpus.subarray(i * N * T, (i + 1) * N * T)), ts = Int32Array.from(corpus.subarray(i * N * T + 1, (i + 1) * N * T + 1));
        serial.zeroGrads();
        const ls = serial.forward(xs, ts, N, T, { iteration: i });
        serial.backward();
        const lp = await engine.forwardBackward(xs, ts, i);
        expect(Math.abs(lp - ls)).toBeLessThan(1e-5);
        expectClose(`gradient of step ${i}`, par.flatGrads, serial.flatGrads, 1e-5);
        expect(Math.abs(engine.gradSumSquares() - backend.sumSquares(serial.flatGrads))).toBeLessThan(1e-5 * engine.gradSumSquares());
        if (i % 3 !== 1) { // steps 2 and 5 follow a step without an update
          sgdS.update([serial.flatParams], [serial.flatGrads], 0.5);
          await sgdP.step(engine, 0.5);
          expect(par.flatGrads.every((g) => g === 0)).toBe(true);
          expectClose(`parameters after step ${i}`, par.flatParams, serial.flatParams, 1e-5);
        }
      }
    } finally {
      await engine.close();
    }
  });

  it('follows the seed curve with 2 workers', async () => {
    const epochs = backend.name === 'js' ? 6 : 100;
    const ppl = await seedCurve(backend, epochs, { workers: 2 });
    expectOnCurve(ppl);
    if (epochs === 100) expect(ppl[99]).toBeLessThan(7);
  });
});

describe('parallel training faults', () => {
  it('rejects promptly when a worker throws, naming worker and iteration, leaving the last completed parameters', async () => {
    const N = 4, T = 3;
    const data = corpus.subarray(0, 2000), targets = corpus.subarray(1, 2001);
    // Reference: the same parallel run, stopped after 6 completed iterations.
    const before = new SimpleRnnlm(V, D, H, { backend: jsBackend, seed: 5 });
    const stop = new AbortController();
    await expect(new RnnlmTrainer(before, new SGD(0.5, { backend: jsBackend })).fit(data, targets, {
      maxEpoch: 3, batchSize: N, timeSize: T, workers: 2, evalInterval: 1, signal: stop.signal,
      onReport: (r) => r.iter === 6 && stop.abort(),
    })).rejects.toThrow('training interrupted at epoch 1, iteration 7');
    // A pool of one thread whose 7th step call throws: slice 1 of iteration 7 (slice 0 runs on the main thread).
    const pool = new Piscina({
      filename: path.join(__dirname, 'support', 'failing-worker.js'), minThreads: 1, maxThreads: 1, workerData: { failOnCall: 7 },
    });
    const model = new SimpleRnnlm(V, D, H, { backend: jsBackend, seed: 5 });
    const started = Date.now();
    const err = await new RnnlmTrainer(model, new SGD(0.5, { backend: jsBackend }))
      .fit(data, targets, { maxEpoch: 3, batchSize: N, timeSize: T, workers: 2, pool })
      .catch((e: Error) => e);
    expect(Date.now() - started).toBeLessThan(10000);
    expect(String(err)).toMatch(/WorkerError: worker 1 \(batch rows 2\.\.3\) failed at epoch 1, iteration 7: injected failure on call 7/);
    await pool.destroy();
    expect(Array.from(model.flatParams)).toEqual(Array.from(before.flatParams));
  });

  /** The error of a 2-worker run on a pool of failing-worker.js told `workerData` (undefined when it succeeds). */
  async function failingRun(workerData: Record<string, number>): Promise<unknown> {
    const pool = new Piscina({ filename: path.join(__dirname, 'support', 'failing-worker.js'), minThreads: 1, maxThreads: 1, workerData });
    const model = new SimpleRnnlm(V, D, H, { backend: jsBackend, seed: 5 });
    const err = await new RnnlmTrainer(model, new SGD(0.5, { backend: jsBackend }))
      .fit(corpus.subarray(0, 2000), corpus.subarray(1, 2001), { maxEpoch: 1, batchSize: 4, timeSize: 3, workers: 2, pool })
      .then(() => undefined, (e: unknown) => e);
    await pool.destroy();
    return err;
  }

  it('rejects when a worker fails in the block sum, naming worker and iteration', async () => {
    expect(String(await failingRun({ failReduceOnCall: 4 })))
      .toMatch(/WorkerError: worker 1 \(batch rows 2\.\.3\) failed at epoch 1, iteration 4: injected block-sum failure on call 4/);
  });

  it('rejects when a worker thread dies, and does not hang', async () => {
    expect(String(await failingRun({ exitOnCall: 3 }))).toMatch(/WorkerError: worker 1 \(batch rows 2\.\.3\) failed at epoch 1, iteration 3: .*exit/i);
  });

  it('refuses a pool with fewer threads than the workers need, and gives the threads back when a run ends', async () => {
    const pool = new Piscina({ filename: WORKER_FILE, minThreads: 1, maxThreads: 1 });
    const model = new SimpleRnnlm(V, D, H, { backend: jsBackend, seed: 5 });
    expect(() => new ParallelEngine(model, 6, 4, { workers: 3, pool })).toThrow(
      new RangeError('the pool has 1 threads but 3 workers need 2 (slice 0 runs on this thread)'));
    // Each run holds the pool's one thread with its serve loop until it ends: a second run (and a third, after
    // an engine closed before any step) only finds the thread if the first gave it back.
    const serial = await run(jsBackend, 1, 6, 4, 20);
    new ParallelEngine(model, 6, 4, { workers: 2, pool }).close();
    for (let k = 0; k < 2; k++) {
      const par = await run(jsBackend, 2, 6, 4, 20, pool);
      expectClose(`run ${k} losses`, par.losses, serial.losses, 1e-4);
      expectClose(`run ${k} parameters`, par.params, serial.params, 1e-4);
    }
    await pool.destroy();
  });

  it('trains on an executor handed to fit as on the one fit makes, and leaves it open', async () => {
    const serial = await run(jsBackend, 1, 6, 4, 20);
    const pool = new Piscina({ filename: WORKER_FILE, minThreads: 1, maxThreads: 1 });
    const model = new LanguageModel({ vocabSize: V, wordvecSize: D, hiddenSize: H }, { backend: jsBackend, seed: 5 });
    const engine = new ParallelEngine(model, 6, 4, { workers: 2, pool });
    const trainer = new RnnlmTrainer(model, new SGD(0.5, { backend: jsBackend }));
    const losses: number[] = [];
    const n = 6 * 4 * 20 + 1;
    const fit = (opts: object): Promise<unknown> => trainer.fit(corpus.subarray(0, n - 1), corpus.subarray(1, n), {
      maxEpoch: 1, batchSize: 6, timeSize: 4, maxGrad: 5, evalInterval: 1, onReport: (r) => losses.push(Math.log(r.ppl)), ...opts,
    });
    await fit({ executor: engine });
    expect(trainer.workers).toBe(2);
    expectClose('losses', losses, serial.losses, 1e-4);
    expectClose('parameters', model.flatParams, serial.params, 1e-4);
    // Still open: it steps again (fit did not close it), and the caller closes it.
    await expect(engine.forwardBackward(corpus.subarray(0, 24), corpus.subarray(1, 25), 99)).resolves.toBeGreaterThan(0);
    await engine.close();
    await pool.destroy();
    await expect(fit({ executor: engine, workers: 2 })).rejects.toThrow('an executor goes without workers and ranks');
    await expect(fit({ executor: new SerialExecutor(model, 5, 4) })).rejects.toThrow('the executor steps rows 0..5 but the batch has 6');
    // The engine takes a number of workers: 'auto' is fit's to resolve.
    expect(() => new ParallelEngine(model, 6, 4, { workers: 'auto' as unknown as number })).toThrow("Expected a positive integer for workers but received 'auto'");
  });

  it('picks serial for the seed configuration and threads for full-PTB models', () => {
    expect(autoWorkers(new SimpleRnnlm(418, 100, 100), 10, 5, 2)).toBe(1);
    expect(autoWorkers(new SimpleRnnlm(10000, 100, 100), 20, 35, 2)).toBe(2);
    expect(autoWorkers(new SimpleRnnlm(10000, 100, 100), 1, 35, 4)).toBe(1);
    // The class output on B's shapes (168 MFLOP) pays for two workers; at batch 4 (34 MFLOP) it does not.
    const classes = new LanguageModel({ vocabSize: 10000, output: 'class', classBounds: Array.from({ length: 101 }, (_, c) => c * 100) });
    expect(autoWorkers(classes, 20, 35, 2)).toBe(2);
    expect(autoWorkers(classes, 4, 35, 2)).toBe(1);
    expect(autoBlasThreads(classes, 4, 35, 1, 2)).toBe(1);
    expect(WORKER_FILE).toMatch(/dist[\\/]parallel[\\/]worker\.js$/);
    expect(autoBlasThreads(new SimpleRnnlm(418, 100, 100), 10, 5, 1, 2)).toBe(1);
    expect(autoBlasThreads(new SimpleRnnlm(10000, 100, 100), 20, 35, 1, 2)).toBe(2);
    expect(autoBlasThreads(new SimpleRnnlm(10000, 100, 100), 20, 35, 2, 2)).toBe(1);
  });

  (loadNativeBackend().addon || REQUIRE_NATIVE ? it : it.skip)('restores the OpenBLAS thread count after training', async () => {
    const before = getBlasThreads();
    const model = new SimpleRnnlm(V, D, H, { backend: 'native' });
    await new RnnlmTrainer(model, new SGD(0.1, { backend: 'native' })).fit(corpus.subarray(0, 200), corpus.subarray(1, 201), {
      maxEpoch: 1, batchSize: 4, timeSize: 5, blasThreads: before === 1 ? 2 : 1,
      onEpoch: () => expect(getBlasThreads()).toBe(before === 1 ? 2 : 1),
    });
    expect(getBlasThreads()).toBe(before);
  });
});
