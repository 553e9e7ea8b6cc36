/**
 * The model interface: configurations and the size table, the gradient contract (backward accumulates, zeroGrads
 * clears), tied weights, counter-based dropout masks (a pure function of seed, iteration, site, row, step, unit),
 * evaluation on its own state, and weights files that record or imply the architecture.
 */
import * as path from 'node:path';
import {
  BetterRnnlm, LanguageModel, Rnnlm, type FullHead, SimpleRnnlm, TimeDropout, evalPerplexity, iterationFlops, jsBackend, modelConfig,
  modelFromWeights, paramTable, parseWeights, readWeights, serializeSafetensors, stateTable, weightsToBytes,
} from '../src';
import { backends, expectClose, FIXTURES, randomArray, randomIds } from './helpers';

describe('model configurations', () => {
  it('lists every tensor once, in the book order, with the book names and shapes', () => {
    const t = paramTable(modelConfig({ cell: 'lstm', layers: 2, vocabSize: 10, wordvecSize: 4, hiddenSize: 3 }));
    expect(t.map((s) => [s.name, s.shape])).toEqual([
      ['embed.W', [10, 4]], ['lstm.0.Wx', [4, 12]], ['lstm.0.Wh', [3, 12]], ['lstm.0.b', [12]],
      ['lstm.1.Wx', [3, 12]], ['lstm.1.Wh', [3, 12]], ['lstm.1.b', [12]], ['affine.W', [3, 10]], ['affine.b', [10]],
    ]);
    expect(t.map((s) => s.offset)).toEqual([0, 40, 88, 124, 136, 172, 208, 220, 250]);
    const tied = paramTable(modelConfig({ cell: 'gru', vocabSize: 10, wordvecSize: 3, hiddenSize: 3, tied: true }));
    expect(tied.map((s) => s.name)).toEqual(['embed.W', 'gru.0.Wx', 'gru.0.Wh', 'gru.0.b', 'affine.b']);
    expect(tied[1].shape).toEqual([3, 9]);
    expect(stateTable(modelConfig({ cell: 'lstm', layers: 2, vocabSize: 5 })).map((s) => s.name))
      .toEqual(['lstm.0.h', 'lstm.0.c', 'lstm.1.h', 'lstm.1.c']);
  });

  it("keeps the book's models by name with the book's defaults", () => {
    expect(new SimpleRnnlm(20).config).toEqual({ cell: 'rnn', layers: 1, vocabSize: 20, wordvecSize: 100, hiddenSize: 100, dropout: 0, tied: false, output: 'full', classBounds: [] });
    expect(new Rnnlm(20).config).toEqual({ cell: 'lstm', layers: 1, vocabSize: 20, wordvecSize: 100, hiddenSize: 100, dropout: 0, tied: false, output: 'full', classBounds: [] });
    expect(new BetterRnnlm(20, 8, 8).config).toEqual({ cell: 'lstm', layers: 2, vocabSize: 20, wordvecSize: 8, hiddenSize: 8, dropout: 0.5, tied: true, output: 'full', classBounds: [] });
  });

  it("initialises as the book (randn) or as PyTorch's example (uniform), from the seed", () => {
    const c = { cell: 'lstm', layers: 2, vocabSize: 500, wordvecSize: 64, hiddenSize: 64 } as const;
    const book = new LanguageModel(c, { seed: 1 });
    const std = (x: Float32Array): number => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
    expect(std(book.param('embed.W'))).toBeCloseTo(0.01, 3);
    expect(std(book.param('lstm.1.Wh'))).toBeCloseTo(1 / 8, 2);
    expect(book.param('lstm.0.b').every((v) => v === 0)).toBe(true);
    const torch = new LanguageModel(c, { seed: 1, weightInit: 'pytorch' });
    const within = (x: Float32Array, r: number): boolean => x.every((v) => Math.abs(v) <= r);
    expect(within(torch.param('embed.W'), 0.1) && std(torch.param('embed.W')) > 0.05).toBe(true);
    expect(within(torch.param('affine.W'), 0.1)).toBe(true);
    expect(within(torch.param('lstm.0.Wx'), 1 / 8) && std(torch.param('lstm.0.Wx')) > 0.06).toBe(true);
    expect(within(torch.param('lstm.0.b'), 2 / 8) && std(torch.param('lstm.0.b')) > 0.05).toBe(true);
    expect(torch.param('affine.b').every((v) => v === 0)).toBe(true);
    expect(Array.from(new LanguageModel(c, { seed: 1, weightInit: 'pytorch' }).flatParams)).toEqual(Array.from(torch.flatParams));
    expect(() => new LanguageModel(c, { weightInit: 'xavier' as never })).toThrow("Unknown weightInit 'xavier': expected one of book, pytorch");
  });

  it('refuses impossible configurations with a message that says why', () => {
    expect(() => modelConfig({ vocabSize: 10, wordvecSize: 4, hiddenSize: 3, tied: true }))
      .toThrow('Tied weights need wordvecSize = hiddenSize (the output layer reuses the embedding), but they are 4 and 3');
    expect(() => modelConfig({ vocabSize: 10, cell: 'tanh' as never })).toThrow("Unknown cell 'tanh': expected one of rnn, lstm, gru");
    expect(() => modelConfig({ vocabSize: 10, dropout: 1 })).toThrow('Expected dropout in [0, 1) but received 1');
    expect(() => modelConfig({ vocabSize: 10, layers: 0 })).toThrow('Expected positive integer for layers but received 0');
  });

  it('counts FLOPs per cell from one formula: the plain RNN keeps 6*N*T*H*(D+H+V)', () => {
    const N = 20, T = 35, D = 100, H = 100, V = 10000;
    expect(iterationFlops(modelConfig({ vocabSize: V }), N, T)).toBe(6 * N * T * H * (D + H + V));
    // An LSTM layer does 4x the recurrent products of an RNN layer; a GRU 3x.
    const rnnPart = 6 * N * T * (D + H) * H;
    expect(iterationFlops(modelConfig({ vocabSize: V, cell: 'lstm' }), N, T)).toBe(6 * N * T * H * V + 4 * rnnPart);
    expect(iterationFlops(modelConfig({ vocabSize: V, cell: 'gru', layers: 2 }), N, T)).toBe(6 * N * T * H * V + 2 * 3 * rnnPart);
  });
});

describe.each(backends().map((b) => [b.name, b] as const))('the model interface on %s', (_n, backend) => {
  const V = 13, N = 3, T = 4;

  it('backward accumulates, zeroGrads clears (tied: the embedding gradient receives both uses)', () => {
    const model = new LanguageModel({ cell: 'lstm', layers: 2, vocabSize: V, wordvecSize: 6, hiddenSize: 6, tied: true }, { backend, seed: 1 });
    const xs = randomIds(N * T, V, 1), ts = randomIds(N * T, V, 2);
    model.zeroGrads();
    model.forward(xs, ts, N, T);
    model.backward();
    const once = Float32Array.from(model.flatGrads);
    model.resetState();
    model.forward(xs, ts, N, T);
    model.backward();
    expectClose('twice', model.flatGrads, once.map((g) => 2 * g), 1e-6);
    model.zeroGrads();
    expect(model.flatGrads.every((g) => g === 0)).toBe(true);
    // Tied: the output layer reads embed.W, and there is no affine.W.
    expect((model.head as FullHead).affine.params[0]).toBe(model.param('embed.W'));
    expect(() => model.param('affine.W')).toThrow(/Unknown parameter 'affine.W'/);
  });

  it('carries the state of every layer, and sets it back', () => {
    const model = new LanguageModel({ cell: 'lstm', layers: 2, vocabSize: V, wordvecSize: 5, hiddenSize: 4 }, { backend, seed: 2 });
    expect(model.getState()).toBeNull();
    const xs = randomIds(N * T, V, 3), ts = randomIds(N * T, V, 4);
    model.forward(xs, ts, N, T);
    const state = model.getState()!.map((s) => Float32Array.from(s));
    expect(state.map((s) => s.length)).toEqual([12, 12, 12, 12]);
    const next = model.forward(xs, ts, N, T);
    model.setState(state);
    expect(model.forward(xs, ts, N, T)).toBe(next);
    expect(() => model.setState(state.slice(1))).toThrow('Expected 4 state tensors (lstm.0.h, lstm.0.c, lstm.1.h, lstm.1.c) but received 3');
  });

  it('evaluates on its own state: evalPerplexity leaves the training state as it was', () => {
    const model = new LanguageModel({ cell: 'gru', vocabSize: V, wordvecSize: 5, hiddenSize: 4, dropout: 0.3 }, { backend, seed: 3 });
    model.forward(randomIds(N * T, V, 5), randomIds(N * T, V, 6), N, T);
    const before = model.getState()!.map((s) => Float32Array.from(s));
    const corpus = randomIds(200, V, 7);
    const ppl = evalPerplexity(model, corpus, 2, 5);
    expect(model.getState()!.map((s) => Array.from(s))).toEqual(before.map((s) => Array.from(s)));
    // No dropout in evaluation: the same perplexity twice, and the same as a dropout-free twin.
    expect(evalPerplexity(model, corpus, 2, 5)).toBe(ppl);
    const twin = new LanguageModel({ ...model.config, dropout: 0 }, { backend });
    twin.setParams(model.flatParams);
    expect(evalPerplexity(twin, corpus, 2, 5)).toBeCloseTo(ppl, 10);
  });

  it('refuses to report a perplexity from weights whose forward overflows', () => {
    const model = new LanguageModel({ vocabSize: V, wordvecSize: 4, hiddenSize: 4 }, { backend, seed: 4 });
    model.param('affine.b').fill(3e38);
    model.param('affine.b')[0] = -3e38;
    expect(() => evalPerplexity(model, randomIds(100, V, 9), 2, 5)).toThrow(/scores are not finite/);
  });

  it('draws dropout masks from (seed, iteration, site, row, step, unit) alone', () => {
    const U = 64, n = 6, t = 5;
    const x = randomArray(n * t * U, 8).map((v) => v + 2); // no zeros in x
    const d = new TimeDropout(0.25, 1, { backend });
    const mask = (key: { seed: number; iteration: number; row0: number }, rows = n, from = 0): Float32Array => {
      const out = Float32Array.from(d.forward(x.subarray(from * t * U, (from + rows) * t * U), rows, t, U, key));
      return out.map((v, i) => (v === 0 ? 0 : v / x[from * t * U + i]));
    };
    const m = mask({ seed: 1, iteration: 7, row0: 0 });
    const kept = m.filter((v) => v !== 0);
    expect(Math.abs(kept.length / m.length - 0.75)).toBeLessThan(0.03);
    expect(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6)).toBe(true);
    // The same key gives the same mask; rows 2..4 of a slice starting at row 2 are rows 2..4 of the batch.
    expect(Array.from(mask({ seed: 1, iteration: 7, row0: 0 }))).toEqual(Array.from(m));
    expect(Array.from(mask({ seed: 1, iteration: 7, row0: 2 }, 3, 2))).toEqual(Array.from(m.subarray(2 * t * U, 5 * t * U)));
    // Another iteration, seed or site gives another mask.
    const differ = (a: Float32Array, b: Float32Array): number => a.filter((v, i) => (v === 0) !== (b[i] === 0)).length / a.length;
    expect(differ(mask({ seed: 1, iteration: 8, row0: 0 }), m)).toBeGreaterThan(0.2);
    expect(differ(mask({ seed: 2, iteration: 7, row0: 0 }), m)).toBeGreaterThan(0.2);
    const other = new TimeDropout(0.25, 2, { backend });
    const o = Float32Array.from(other.forward(x, n, t, U, { seed: 1, iteration: 7, row0: 0 })).map((v, i) => (v === 0 ? 0 : v / x[i]));
    expect(differ(o, m)).toBeGreaterThan(0.2);
    d.train = false;
    expect(d.forward(x, n, t, U, { seed: 1, iteration: 7, row0: 0 })).toBe(x);
  });
});

describe('weights files and the architecture', () => {
  it('round-trips a 2-layer tied LSTM with its architecture and vocabulary', () => {
    const model = new LanguageModel({ cell: 'lstm', layers: 2, vocabSize: 5, wordvecSize: 4, hiddenSize: 4, tied: true, dropout: 0.5 }, { backend: jsBackend, seed: 4 });
    const w = parseWeights(weightsToBytes(model, ['a', 'b', 'c', 'd', 'e']));
    expect(w.config).toEqual(model.config);
    expect(w.vocab).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect([...w.tensors.keys()]).toEqual(model.specs.map((s) => s.name));
    const copy = modelFromWeights(w, { backend: jsBackend });
    expect(Array.from(copy.flatParams)).toEqual(Array.from(model.flatParams));
  });

  it('reads the architecture of a file without metadata from its tensor names and shapes', () => {
    const model = new LanguageModel({ cell: 'gru', layers: 3, vocabSize: 6, wordvecSize: 5, hiddenSize: 5, tied: true }, { backend: jsBackend, seed: 5 });
    const bytes = serializeSafetensors(model.specs.map((s, i) => [s.name, { shape: s.shape, data: model.params[i] }]));
    expect(parseWeights(bytes).config).toEqual({ cell: 'gru', layers: 3, vocabSize: 6, wordvecSize: 5, hiddenSize: 5, dropout: 0, tied: true, output: 'full', classBounds: [] });
  });

  it('still loads the first format (rnn.Wx, rnn.Wh, rnn.b), e.g. the seed-configuration weights', () => {
    const w = readWeights(path.join(FIXTURES, 'seed-config-init.safetensors'));
    expect(w.config).toEqual({ cell: 'rnn', layers: 1, vocabSize: 418, wordvecSize: 100, hiddenSize: 100, dropout: 0, tied: false, output: 'full', classBounds: [] });
    expect(modelFromWeights(w).specs.map((s) => s.name)).toEqual(['embed.W', 'rnn.0.Wx', 'rnn.0.Wh', 'rnn.0.b', 'affine.W', 'affine.b']);
  });

  it('refuses files whose metadata contradicts the tensors, or that mix cells or skip layers', () => {
    const model = new LanguageModel({ cell: 'lstm', layers: 2, vocabSize: 5, wordvecSize: 4, hiddenSize: 4 }, { backend: jsBackend });
    const tensors = model.specs.map((s, i) => [s.name, { shape: s.shape, data: model.params[i] }] as [string, { shape: number[]; data: Float32Array }]);
    const arch = JSON.stringify({ ...model.config, layers: 3 });
    expect(() => parseWeights(serializeSafetensors(tensors, { architecture: arch }), 'x')).toThrow('x: __metadata__.architecture says layers 3 but the tensors say 2');
    const skipped = tensors.map(([n, t]) => [n.replace('lstm.1.', 'lstm.2.'), t] as typeof tensors[number]);
    expect(() => parseWeights(serializeSafetensors(skipped), 'x')).toThrow('x: layer tensors are numbered 0, 2: expected 0..1');
    const mixed = tensors.map(([n, t]) => [n.replace('lstm.1.', 'gru.1.'), t] as typeof tensors[number]);
    expect(() => parseWeights(serializeSafetensors(mixed), 'x')).toThrow('x: tensors of more than one cell type (lstm, gru)');
    const bad = tensors.map(([n, t]) => (n === 'lstm.1.Wh' ? [n, { shape: [4, 12], data: new Float32Array(48) }] : [n, t]) as typeof tensors[number]);
    expect(() => parseWeights(serializeSafetensors(bad), 'x')).toThrow("x: tensor 'lstm.1.Wh' has shape [4, 12] but [4, 16] fits the other tensors (lstm, 2 layers, V=5, D=4, H=4)");
  });

  it('refuses a tensor that the architecture does not name, naming it (a renamed affine.W is not a tied model)', () => {
    const model = new LanguageModel({ cell: 'rnn', vocabSize: 5, wordvecSize: 4, hiddenSize: 4 }, { backend: jsBackend });
    const tensors = model.specs.map((s, i) => [s.name, { shape: s.shape, data: model.params[i] }] as [string, { shape: number[]; data: Float32Array }]);
    const renamed = tensors.map(([n, t]) => [n === 'affine.W' ? 'affine.weight' : n, t] as typeof tensors[number]);
    expect(() => parseWeights(serializeSafetensors(renamed), 'x')).toThrow(
      "x: tensor 'affine.weight' is not part of this model (rnn, 1 layer, V=5, D=4, H=4, tied: embed.W, rnn.0.Wx, rnn.0.Wh, rnn.0.b, affine.b)");
    const extra = [...tensors, ['state.rnn.0.h', { shape: [1, 4], data: new Float32Array(4) }] as typeof tensors[number]];
    expect(() => parseWeights(serializeSafetensors(extra), 'x')).toThrow(/tensor 'state.rnn.0.h' is not part of this model/);
  });
});
