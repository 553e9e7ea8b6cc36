/**
 * Finite-difference gradient checks: for a scalar L = sum(out * R) with a fixed random R (so dout = R),
 * every analytic gradient matches (L(p + eps) - L(p - eps)) / 2eps at sampled entries.
 */
import {
  LanguageModel, SimpleRnnlm, TimeAffine, TimeDropout, TimeEmbedding, TimeGRU, TimeLSTM, TimeRNN, TimeSoftmaxWithLoss, RNN, type Backend,
} from '../src';
import { backends, randomArray, randomIds } from './helpers';

const EPS = 1e-2;
const TOL = 2e-2;

function dot(a: Float32Array, r: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * r[i];
  return s;
}

/** Compares analytic `grad` with central differences of `loss` over up to `samples` entries of `param`. */
function check(label: string, param: Float32Array, grad: Float32Array, loss: () => number, samples = 24, floor = 1e-2): void {
  const analytic = Float32Array.from(grad);
  const n = param.length;
  const stride = Math.max(1, Math.floor(n / samples));
  let maxAbs = 0;
  for (const g of analytic) maxAbs = Math.max(maxAbs, Math.abs(g));
  for (let i = 0; i < n; i += stride) {
    const old = param[i];
    param[i] = old + EPS;
    const lp = loss();
    param[i] = old - EPS;
    const lm = loss();
    param[i] = old;
    const numeric = (lp - lm) / (2 * EPS);
    const err = Math.abs(numeric - analytic[i]) / Math.max(Math.abs(numeric), Math.abs(analytic[i]), floor * maxAbs, 1e-6);
    if (!(err < TOL)) {
      throw new Error(`${label}[${i}]: analytic ${analytic[i]} vs numeric ${numeric} (relative error ${err.toFixed(4)})`);
    }
  }
}

describe.each(backends().map((b) => [b.name, b] as const))('gradient checks on %s', (_n, backend: Backend) => {
  const N = 3, T = 4, D = 5, H = 6, V = 7;

  it('TimeEmbedding', () => {
    const W = randomArray(V * D, 1);
    const layer = new TimeEmbedding(W, V, D, { backend });
    const xs = randomIds(N * T, V, 2);
    const R = randomArray(N * T * D, 3);
    const loss = (): number => dot(layer.forward(xs, N, T), R);
    loss();
    layer.backward(R);
    check('dW', W, layer.grads[0], loss, 200);
  });

  it('TimeAffine', () => {
    const W = randomArray(H * V, 4), b = randomArray(V, 5), x = randomArray(N * T * H, 6);
    const layer = new TimeAffine(W, b, H, V, { backend });
    const R = randomArray(N * T * V, 7);
    const loss = (): number => dot(layer.forward(x, N, T), R);
    loss();
    const dx = Float32Array.from(layer.backward(R));
    check('dW', W, layer.grads[0], loss);
    check('db', b, layer.grads[1], loss);
    check('dx', x, dx, loss);
  });

  it('TimeRNN, from a non-zero initial state (stateful)', () => {
    const Wx = randomArray(D * H, 8), Wh = randomArray(H * H, 9), b = randomArray(H, 10);
    const xs = randomArray(N * T * D, 11), h0 = randomArray(N * H, 12);
    const layer = new TimeRNN({ Wx, Wh, b }, D, H, { backend, stateful: true });
    const R = randomArray(N * T * H, 13);
    const loss = (): number => {
      layer.setState(h0);
      return dot(layer.forward(xs, N, T), R);
    };
    loss();
    const dxs = Float32Array.from(layer.backward(R));
    const dh = Float32Array.from(layer.dh!);
    const [dWx, dWh, db] = layer.grads.map((g) => Float32Array.from(g));
    check('dWx', Wx, dWx, loss);
    check('dWh', Wh, dWh, loss);
    check('db', b, db, loss);
    check('dxs', xs, dxs, loss);
    check('dh (initial state)', h0, dh, loss);
  });

  it('RNN (one step)', () => {
    const Wx = randomArray(D * H, 14), Wh = randomArray(H * H, 15), b = randomArray(H, 16);
    const x = randomArray(N * D, 17), h = randomArray(N * H, 18);
    const layer = new RNN({ Wx, Wh, b }, D, H, { backend });
    const R = randomArray(N * H, 19);
    const loss = (): number => dot(layer.forward(x, h, N), R);
    loss();
    const { dx, dhPrev } = layer.backward(R);
    const dxc = Float32Array.from(dx), dhc = Float32Array.from(dhPrev);
    check('dWh', Wh, Float32Array.from(layer.grads[1]), loss);
    check('dx', x, dxc, loss);
    check('dhPrev', h, dhc, loss);
  });

  it('TimeSoftmaxWithLoss, with ignored targets', () => {
    const xs = randomArray(N * T * V, 20).map((v) => v * 3);
    const ts = randomIds(N * T, V, 21);
    ts[1] = -1;
    ts[5] = -1;
    const layer = new TimeSoftmaxWithLoss({ backend });
    const loss = (): number => layer.forward(xs, ts, N, T, V);
    loss();
    const dx = Float32Array.from(layer.backward());
    check('dxs', xs, dx, loss, 84);
    expect(Array.from(dx.subarray(V, 2 * V))).toEqual(new Array(V).fill(0));
    // Told the backward's dout, the forward makes that gradient itself, over the scores it was given; backward
    // hands it over, for that dout only. A forward without dout after it has its own buffer again.
    expect(layer.forward(Float32Array.from(xs), ts, N, T, V, 0.5)).toBe(loss());
    const scores = Float32Array.from(xs);
    layer.forward(scores, ts, N, T, V, 0.5);
    expect(layer.probs).toBeUndefined();
    const planned = layer.backward(0.5);
    expect(planned).toBe(scores);
    for (let i = 0; i < dx.length; i++) expect(Math.abs(planned[i] - 0.5 * dx[i])).toBeLessThanOrEqual(3e-8);
    loss();
    expect(layer.probs).not.toBe(scores);
    expect(Array.from(layer.backward())).toEqual(Array.from(dx));
    layer.forward(Float32Array.from(xs), ts, N, T, V, 0.5);
    expect(() => layer.backward(1)).toThrow('TimeSoftmaxWithLoss.backward(1) after a forward that made the gradient for dout 0.5');
  });

  it('SimpleRnnlm, the whole model over two stateful windows', () => {
    const model = new SimpleRnnlm(V, D, H, { backend, seed: 3 });
    // Scale up the tiny initial embedding so its gradient is well above float32 noise.
    for (const w of [model.param('embed.W')]) for (let i = 0; i < w.length; i++) w[i] *= 30;
    const xs = randomIds(N * T, V, 22), ts = randomIds(N * T, V, 23);
    model.forward(randomIds(N * T, V, 24), randomIds(N * T, V, 25), N, T); // a first window sets the state
    const h = Float32Array.from(model.layers[0].h!);
    const loss = (): number => {
      model.layers[0].setState(h);
      return model.forward(xs, ts, N, T);
    };
    model.zeroGrads();
    loss();
    model.backward();
    const grads = model.grads.map((g) => Float32Array.from(g));
    // Through a stack of layers, float32 rounding of the loss (~1e-7) is ~1e-5 of a difference quotient: entries
    // far below the tensor's largest gradient are compared against 5% of it.
    model.specs.forEach((s, i) => check(s.name, model.params[i], grads[i], loss, 24, 5e-2));
  });
});

describe.each(backends().map((b) => [b.name, b] as const))('chapter-6 gradient checks on %s', (_n, backend: Backend) => {
  const N = 3, T = 4, D = 5, H = 6, V = 7;

  it.each([['TimeLSTM', 4], ['TimeGRU', 3]] as const)('%s, from a non-zero initial state (stateful)', (name, gates) => {
    const G = gates * H;
    const Wx = randomArray(D * G, 30), Wh = randomArray(H * G, 31), b = randomArray(G, 32);
    const xs = randomArray(N * T * D, 33), h0 = randomArray(N * H, 34), c0 = randomArray(N * H, 35);
    const layer = name === 'TimeLSTM' ? new TimeLSTM({ Wx, Wh, b }, D, H, { backend, stateful: true })
      : new TimeGRU({ Wx, Wh, b }, D, H, { backend, stateful: true });
    const R = randomArray(N * T * H, 36);
    const init = name === 'TimeLSTM' ? [h0, c0] : [h0];
    const loss = (): number => {
      layer.setState(...init);
      return dot(layer.forward(xs, N, T), R);
    };
    loss();
    const dxs = Float32Array.from(layer.backward(R));
    const dstate = layer.dstate.map((d) => Float32Array.from(d));
    const [dWx, dWh, db] = layer.grads.map((g) => Float32Array.from(g));
    check('dWx', Wx, dWx, loss);
    check('dWh', Wh, dWh, loss);
    check('db', b, db, loss);
    check('dxs', xs, dxs, loss);
    check('dh (initial state)', h0, dstate[0], loss);
    if (name === 'TimeLSTM') check('dc (initial state)', c0, dstate[1], loss);
  });

  it('TimeAffine with transposed (tied) weights', () => {
    const E = randomArray(V * H, 40), b = randomArray(V, 41), x = randomArray(N * T * H, 42);
    const layer = new TimeAffine(E, b, H, V, { backend, transposed: true });
    const R = randomArray(N * T * V, 43);
    const loss = (): number => dot(layer.forward(x, N, T), R);
    loss();
    const dx = Float32Array.from(layer.backward(R));
    check('dE', E, Float32Array.from(layer.grads[0]), loss);
    check('db', b, Float32Array.from(layer.grads[1]), loss);
    check('dx', x, dx, loss);
  });

  it('TimeDropout with a fixed key', () => {
    const x = randomArray(N * T * H, 44);
    const layer = new TimeDropout(0.4, 1, { backend });
    const R = randomArray(N * T * H, 45);
    const key = { seed: 3, iteration: 9, row0: 0 };
    const loss = (): number => dot(layer.forward(x, N, T, H, key), R);
    loss();
    check('dx', x, Float32Array.from(layer.backward(R)), loss, 72);
  });

  it.each([
    ['2-layer LSTM, tied, dropout 0.3', { cell: 'lstm', layers: 2, tied: true, dropout: 0.3, wordvecSize: H }],
    ['2-layer GRU, dropout 0.2', { cell: 'gru', layers: 2, tied: false, dropout: 0.2, wordvecSize: D }],
    ['3-layer RNN, tied', { cell: 'rnn', layers: 3, tied: true, dropout: 0, wordvecSize: H }],
    ['RNN, class output', { cell: 'rnn', layers: 1, tied: false, dropout: 0, wordvecSize: D, output: 'class', classBounds: [0, 2, 5, V] }],
    ['RNN, sampled output', { cell: 'rnn', layers: 1, tied: false, dropout: 0, wordvecSize: D, output: 'sampled', noise: { samples: 4, power: 0.75, counts: [9, 5, 4, 3, 2, 1, 1] } }],
    ['GRU, tied, sampled output', { cell: 'gru', layers: 1, tied: true, dropout: 0.2, wordvecSize: H, output: 'sampled', noise: { samples: 9, power: 0.5, counts: [9, 5, 4, 3, 2, 1, 0] } }],
    ['2-layer LSTM, tied, dropout 0.3, class output', { cell: 'lstm', layers: 2, tied: true, dropout: 0.3, wordvecSize: H, output: 'class', classBounds: [0, 1, 3, 4, V] }],
  ] as const)('whole model: %s, over two stateful windows with a fixed dropout mask', (_label, c) => {
    const model = new LanguageModel({ ...c, vocabSize: V, hiddenSize: H }, { backend, seed: 3 });
    for (const w of [model.param('embed.W')]) for (let i = 0; i < w.length; i++) w[i] *= 30;
    const xs = randomIds(N * T, V, 46), ts = randomIds(N * T, V, 47);
    model.forward(randomIds(N * T, V, 48), randomIds(N * T, V, 49), N, T, { iteration: 1 });
    const state = model.getState()!.map((s) => Float32Array.from(s));
    const loss = (): number => {
      model.setState(state);
      return model.forward(xs, ts, N, T, { iteration: 2 });
    };
    model.zeroGrads();
    loss();
    model.backward();
    const grads = model.grads.map((g) => Float32Array.from(g));
    // Through a stack of layers, float32 rounding of the loss (~1e-7) is ~1e-5 of a difference quotient: entries
    // far below the tensor's largest gradient are compared against 5% of it.
    model.specs.forEach((s, i) => check(s.name, model.params[i], grads[i], loss, 24, 5e-2));
  });
});
