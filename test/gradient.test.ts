/**
 * The gradient's support (GradientSupport): with untied weights the backward writes embed.W's gradient only in the
 * rows of the batch's word ids, so the norm, the update and the zeroing may skip the rest; the row-sparse backend
 * ops give the dense ops' numbers on such a gradient, on both backends.
 */
import { GradientSupport, LanguageModel, sgdStep, type ModelConfig } from '../src';
import { backends, expectClose, randomArray, randomIds } from './helpers';

const V = 40, D = 6, H = 6, N = 3, T = 4;

describe.each(backends().map((b) => [b.name, b] as const))('gradient support on %s', (_n, backend) => {
  it.each([
    { cell: 'rnn' },
    { cell: 'lstm', layers: 2, dropout: 0.3 },
    { cell: 'gru', output: 'class', classBounds: [0, 5, 15, V] },
    { cell: 'rnn', output: 'sampled', noise: { samples: 7, power: 0.75, counts: Array.from({ length: V }, (_, i) => V - i) } },
    { cell: 'lstm', tied: true },
  ] as Partial<ModelConfig>[])('covers every non-zero of a backward, and its passes are the dense ones (%j)', (c) => {
    const model = new LanguageModel({ vocabSize: V, wordvecSize: D, hiddenSize: H, ...c }, { backend, seed: 2 });
    // A batch that uses a few of the V words, so that most embedding rows stay zero.
    const xs = Int32Array.from(randomIds(N * T, 9, 4), (id) => id * 3), ts = randomIds(N * T, V, 5);
    model.zeroGrads();
    model.forward(xs, ts, N, T, { iteration: 1 });
    model.backward();
    const support = new GradientSupport(model).setIds(xs);
    const g = model.flatGrads;
    const inSupport = new Uint8Array(g.length).fill(1);
    if (!c.tied) {
      expect(support.denseFrom).toBe(V * D);
      expect(Array.from(support.rows.subarray(0, support.rowCount))).toEqual([...new Set(xs)].sort((a, b) => a - b));
      inSupport.fill(0, 0, V * D);
      for (let i = 0; i < support.rowCount; i++) inSupport.fill(1, support.rows[i] * D, (support.rows[i] + 1) * D);
    } else {
      expect(support.denseFrom).toBe(0);
    }
    // The invariant the passes rely on: no non-zero outside the support (and the support is not all of it).
    let nonZeroOutside = 0, nonZeroInside = 0;
    g.forEach((x, i) => { if (x !== 0) { if (inSupport[i]) nonZeroInside++; else nonZeroOutside++; } });
    expect(nonZeroOutside).toBe(0);
    expect(nonZeroInside).toBeGreaterThan(0);
    expect(Math.abs(support.sumSquares(backend, g) - backend.sumSquares(g))).toBeLessThan(1e-12 * backend.sumSquares(g));
    // The update over the support equals the dense update and leaves the gradient all zero.
    const dense = Float32Array.from(model.flatParams);
    backend.sgdUpdate(dense, Float32Array.from(g), 0.7);
    for (const s of support.spans()) sgdStep(backend, model.flatParams, g, 0.5 * 1.4, true, s);
    expect(Array.from(model.flatParams)).toEqual(Array.from(dense));
    expect(g.every((x) => x === 0)).toBe(true);
  });

  it('row ops: the dense ops restricted to the rows, with zeroing, and nothing outside them touched', () => {
    const Vr = 9, Dr = 5, rows = Int32Array.from([0, 3, 4, 8]);
    const x = randomArray(Vr * Dr, 1), y = randomArray(Vr * Dr, 2), p = randomArray(Vr * Dr, 3);
    const onRows = (a: Float32Array): Float32Array => Float32Array.from(a, (v, i) => (rows.includes(Math.floor(i / Dr)) ? v : 0));
    expect(backend.sumSquaresRows(x, rows, 4, Vr, Dr)).toBeCloseTo(backend.sumSquares(onRows(x)), 10);
    // sgdUpdateRows: the rows updated and their gradient zeroed; the other rows of both untouched.
    const p1 = Float32Array.from(p), g1 = Float32Array.from(x);
    backend.sgdUpdateRows(p1, g1, 0.25, rows, 4, Vr, Dr, true);
    const pd = Float32Array.from(p);
    backend.sgdUpdate(pd, onRows(x), 0.25);
    expect(Array.from(p1)).toEqual(Array.from(pd));
    expect(Array.from(g1)).toEqual(Array.from(x, (v, i) => (rows.includes(Math.floor(i / Dr)) ? 0 : v)));
    // addSumSquaresRows: y += x on the rows, the squares of the new rows, x zeroed there only.
    const y1 = Float32Array.from(y), x1 = Float32Array.from(x);
    const s = backend.addSumSquaresRows(y1, x1, rows, 4, Vr, Dr, true);
    const yd = Float32Array.from(y);
    backend.sgdUpdate(yd, onRows(x), -1);
    expect(Array.from(y1)).toEqual(Array.from(yd));
    expect(s).toBeCloseTo(backend.sumSquares(onRows(yd)), 10);
    expect(Array.from(x1)).toEqual(Array.from(x, (v, i) => (rows.includes(Math.floor(i / Dr)) ? 0 : v)));
    // Without zeroing, the source stays; an empty row list changes nothing.
    const x2 = Float32Array.from(x);
    backend.addSumSquaresRows(Float32Array.from(y), x2, rows, 4, Vr, Dr, false);
    expect(Array.from(x2)).toEqual(Array.from(x));
    expect(backend.sumSquaresRows(x, new Int32Array(0), 0, Vr, Dr)).toBe(0);
    expect(() => backend.sumSquaresRows(x, Int32Array.from([9]), 1, Vr, Dr)).toThrow('Expected rows[0] in [0, 9) but received 9');
  });
});

it('row ops: js and native agree (1e-5)', () => {
  const all = backends();
  if (all.length < 2) return;
  const [js, native] = all;
  const Vr = 300, Dr = 100, rows = Int32Array.from(randomIds(120, Vr, 8)).filter((v, i, a) => a.indexOf(v) === i);
  const x = randomArray(Vr * Dr, 4), y = randomArray(Vr * Dr, 5);
  const R = rows.length;
  expectClose('sumSquaresRows', [native.sumSquaresRows(x, rows, R, Vr, Dr)], [js.sumSquaresRows(x, rows, R, Vr, Dr)], 1e-5);
  const out = [js, native].map((b) => {
    const yy = Float32Array.from(y), xx = Float32Array.from(x), p = Float32Array.from(y), g = Float32Array.from(x);
    const s = b.addSumSquaresRows(yy, xx, rows, R, Vr, Dr, true);
    b.sgdUpdateRows(p, g, 0.3, rows, R, Vr, Dr, false);
    return { s, yy, xx, p, g };
  });
  expectClose('addSumSquaresRows', [out[1].s], [out[0].s], 1e-5);
  for (const k of ['yy', 'xx', 'p', 'g'] as const) expectClose(k, out[1][k], out[0][k], 1e-6);
});
