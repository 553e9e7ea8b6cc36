/**
 * Every native op against the js reference on random shapes (1x1, non-square, transposed, strided views),
 * within 1e-4 of the output's scale.
 */
import { jsBackend, type Backend } from '../src';
import { SCRATCH } from '../src/backend';
import { loadNativeBackend } from '../src/backend/native';
import { expectClose, randomArray, randomIds, describeNative as describeNativeIf } from './helpers';

const native = loadNativeBackend().backend;
const TOL = 1e-4;
const describeNative = describeNativeIf(Boolean(native));

/** Runs op on both backends with identical copies of the inputs and compares every output buffer. */
function same(label: string, outputs: Float32Array[], run: (b: Backend, outs: Float32Array[]) => number | void): void {
  const jsOuts = outputs.map((o) => Float32Array.from(o));
  const nOuts = outputs.map((o) => Float32Array.from(o));
  const rj = run(jsBackend, jsOuts);
  const rn = run(native!, nOuts);
  if (typeof rj === 'number') expectClose(`${label} (returned)`, [rn as number], [rj], TOL);
  jsOuts.forEach((o, i) => expectClose(`${label} output ${i}`, nOuts[i], o, TOL));
}

// M up to 32 runs the small kernels: tiles of up to 12 rows (NN) and 4 (NT), cut evenly (10: one tile; 17: 9 + 8; 32: 11 + 11 + 10).
const SHAPES: [number, number, number][] = [[1, 1, 1], [1, 7, 3], [5, 1, 9], [10, 45, 7], [17, 33, 8], [24, 70, 33], [32, 40, 16], [64, 31, 129], [3, 200, 2]];

describeNative('native backend parity with js', () => {
  it.each(SHAPES)('sgemm M=%i N=%i K=%i, every transpose, alpha/beta, strided leading dimensions', (M, N, K) => {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        for (const [alpha, beta, pad] of [[1, 0, 0], [1, 1, 2], [0.5, 1, 3], [-2, 0.25, 1]]) {
          const [ar, ac] = tA ? [K, M] : [M, K];
          const [br, bc] = tB ? [N, K] : [K, N];
          const lda = ac + pad, ldb = bc + pad, ldc = N + pad;
          const A = randomArray(ar * lda + 5, M * 7 + K), B = randomArray(br * ldb + 5, N * 3 + K);
          // A strided view: start 2 elements into the buffer.
          const Av = A.subarray(2), Bv = B.subarray(1);
          const C = randomArray(M * ldc, M + N);
          same(`sgemm ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}x${N}x${K} a=${alpha} b=${beta} pad=${pad}`, [C],
            (b, [c]) => b.sgemm(tA, tB, M, N, K, alpha, Av, lda, Bv, ldb, beta, c, ldc));
        }
      }
    }
  });

  it('sgemm with few rows (the recurrent step kernels): every row count to 32, column and depth tails, beta 0 and 1', () => {
    for (const M of [1, 2, 5, 6, 7, 12, 13, 20, 32, 33]) {
      for (const [N, K] of [[1, 1], [15, 17], [16, 16], [17, 15], [33, 200], [800, 100], [200, 800]]) {
        for (const tB of [false, true]) {
          for (const beta of [0, 1]) {
            const lda = K + 3, ldb = (tB ? K : N) + 5, ldc = N + 2;
            const A = randomArray(M * lda, M + N), B = randomArray((tB ? N : K) * ldb, K + 1), C = randomArray(M * ldc, 9);
            same(`sgemm N${tB ? 'T' : 'N'} ${M}x${N}x${K} beta=${beta}`, [C],
              (b, [c]) => b.sgemm(false, tB, M, N, K, 1, A, lda, B, ldb, beta, c, ldc));
          }
        }
      }
    }
  });

  it('sgemm with beta = 0 ignores NaN in C, and with K = 0 scales C', () => {
    const C = new Float32Array(6).fill(NaN);
    native!.sgemm(false, false, 2, 3, 2, 1, Float32Array.from([1, 2, 3, 4]), 2, Float32Array.from([1, 0, 0, 0, 1, 0]), 3, 0, C, 3);
    expect(Array.from(C)).toEqual([1, 2, 0, 3, 4, 0]);
    native!.sgemm(false, false, 2, 3, 0, 1, new Float32Array(0), 1, new Float32Array(0), 3, 0.5, C, 3);
    expect(Array.from(C)).toEqual([0.5, 1, 0, 1.5, 2, 0]);
  });

  it.each([[1, 1, 1, 1], [2, 3, 4, 5], [7, 5, 16, 33], [20, 35, 10, 24]])('TimeRNN forward and backward N=%i T=%i D=%i H=%i', (N, T, D, H) => {
    const xs = randomArray(N * T * D, 1), h0 = randomArray(N * H, 2), Wx = randomArray(D * H, 3).map((v) => v / Math.sqrt(D));
    const Wh = randomArray(H * H, 4).map((v) => v / Math.sqrt(H)), b = randomArray(H, 5), dhs = randomArray(N * T * H, 6);
    same('rnnForward', [new Float32Array(N * T * H)], (be, [hs]) => be.rnnForward(hs, xs, h0, Wx, Wh, b, N, T, D, H));
    const hs = new Float32Array(N * T * H);
    jsBackend.rnnForward(hs, xs, h0, Wx, Wh, b, N, T, D, H);
    // Gradients start from random values: backward must add to them.
    same('rnnBackward', [new Float32Array(N * T * D), randomArray(D * H, 21), randomArray(H * H, 22), randomArray(H, 23), new Float32Array(N * H)],
      (be, [dxs, dWx, dWh, db, dh0]) => be.rnnBackward(dxs, dWx, dWh, db, dh0, dhs, xs, hs, h0, Wx, Wh, new Float32Array(SCRATCH.rnnBackward(N, T, H)), N, T, D, H));
  });

  it.each([[1, 1, 1, 1], [2, 3, 4, 5], [7, 5, 16, 33], [20, 35, 10, 24]])('TimeLSTM forward and backward N=%i T=%i D=%i H=%i', (N, T, D, H) => {
    const G = 4 * H;
    const xs = randomArray(N * T * D, 31), h0 = randomArray(N * H, 32), c0 = randomArray(N * H, 33);
    const Wx = randomArray(D * G, 34).map((v) => v / Math.sqrt(D)), Wh = randomArray(H * G, 35).map((v) => v / Math.sqrt(H));
    const b = randomArray(G, 36), dhs = randomArray(N * T * H, 37);
    same('lstmForward', [new Float32Array(N * T * H), new Float32Array(N * T * H), new Float32Array(N * T * G)],
      (be, [hs, cs, gates]) => be.lstmForward(hs, cs, gates, xs, h0, c0, Wx, Wh, b, N, T, D, H));
    const hs = new Float32Array(N * T * H), cs = new Float32Array(N * T * H), gates = new Float32Array(N * T * G);
    jsBackend.lstmForward(hs, cs, gates, xs, h0, c0, Wx, Wh, b, N, T, D, H);
    same('lstmBackward', [new Float32Array(N * T * D), randomArray(D * G, 38), randomArray(H * G, 39), randomArray(G, 40), new Float32Array(N * H), new Float32Array(N * H)],
      (be, [dxs, dWx, dWh, db, dh0, dc0]) => be.lstmBackward(dxs, dWx, dWh, db, dh0, dc0, dhs, xs, hs, cs, gates, h0, c0, Wx, Wh,
        new Float32Array(SCRATCH.lstmBackward(N, T, H)), N, T, D, H));
  });

  it.each([[1, 1, 1, 1], [2, 3, 4, 5], [7, 5, 16, 33], [20, 35, 10, 24]])('TimeGRU forward and backward N=%i T=%i D=%i H=%i', (N, T, D, H) => {
    const G = 3 * H;
    const xs = randomArray(N * T * D, 41), h0 = randomArray(N * H, 42);
    const Wx = randomArray(D * G, 43).map((v) => v / Math.sqrt(D)), Wh = randomArray(H * G, 44).map((v) => v / Math.sqrt(H));
    const b = randomArray(G, 45), dhs = randomArray(N * T * H, 46);
    same('gruForward', [new Float32Array(N * T * H), new Float32Array(N * T * G), new Float32Array(N * T * H)],
      (be, [hs, gates, rh]) => be.gruForward(hs, gates, rh, xs, h0, Wx, Wh, b, N, T, D, H));
    const hs = new Float32Array(N * T * H), gates = new Float32Array(N * T * G), rh = new Float32Array(N * T * H);
    jsBackend.gruForward(hs, gates, rh, xs, h0, Wx, Wh, b, N, T, D, H);
    same('gruBackward', [new Float32Array(N * T * D), randomArray(D * G, 47), randomArray(H * G, 48), randomArray(G, 49), new Float32Array(N * H)],
      (be, [dxs, dWx, dWh, db, dh0]) => be.gruBackward(dxs, dWx, dWh, db, dh0, dhs, xs, hs, gates, rh, h0, Wx, Wh,
        new Float32Array(SCRATCH.gruBackward(N, T, H)), N, T, D, H));
  });

  // 0.25: the threshold 2^30 exactly; 1 - 2^-33: the threshold rounds up to 2^32, nothing kept; U = 33: vector tails.
  it.each([[0, 1, 1, 1], [0.2, 3, 5, 7], [0.5, 20, 35, 100], [0.9, 2, 3, 64], [0.25, 2, 3, 33], [1 - 2 ** -33, 1, 2, 5]])('dropout p=%f N=%i T=%i U=%i: identical masks, bit for bit', (p, N, T, U) => {
    const x = randomArray(N * T * U, 51), dout = randomArray(N * T * U, 52);
    const outs = [jsBackend, native!].map((be) => {
      const out = new Float32Array(N * T * U), mask = new Float32Array(N * T * U), dx = new Float32Array(N * T * U);
      be.dropoutForward(out, mask, x, p, 7, 123456, 2, 5, N, T, U);
      be.dropoutBackward(dx, dout, mask, N * T * U);
      return { out, mask, dx };
    });
    expect(Array.from(outs[1].mask)).toEqual(Array.from(outs[0].mask));
    expect(Array.from(outs[1].out)).toEqual(Array.from(outs[0].out));
    expect(Array.from(outs[1].dx)).toEqual(Array.from(outs[0].dx));
  });

  it.each([[1, 1, 1], [3, 5, 7], [70, 20, 300]])('affine forward and backward R=%i I=%i O=%i, plain and transposed (tied) weights', (R, I, O) => {
    const x = randomArray(R * I, 7), W = randomArray(I * O, 8), b = randomArray(O, 9), dout = randomArray(R * O, 10);
    for (const transW of [false, true]) {
      same(`affineForward transW=${transW}`, [new Float32Array(R * O)], (be, [out]) => be.affineForward(out, x, W, b, transW, R, I, O));
      same(`affineBackward transW=${transW}`, [new Float32Array(R * I), randomArray(I * O, 11), randomArray(O, 12)],
        (be, [dx, dW, db]) => be.affineBackward(dx, dW, db, dout, x, W, new Float32Array(R * I), transW, R, I, O));
    }
  });

  it.each([[1, 1, 1], [3, 5, 7], [70, 20, 300]])('affine R=%i I=%i O=%i with b stored right after W (the native engine folds it into the product)', (R, I, O) => {
    // As an untied output layer's affine.W and affine.b, and their gradients, in the flat buffers.
    const flat = randomArray(I * O + O, 13), x = randomArray(R * I, 14), dout = randomArray(R * O, 15);
    const W = flat.subarray(0, I * O), b = flat.subarray(I * O);
    same('affineForward, b after W', [new Float32Array(R * O)], (be, [out]) => be.affineForward(out, x, W, b, false, R, I, O));
    same('affineBackward, db after dW', [new Float32Array(R * I), randomArray(I * O + O, 16)], (be, [dx, dflat]) =>
      be.affineBackward(dx, dflat.subarray(0, I * O), dflat.subarray(I * O), dout, x, W, new Float32Array(R * I), false, R, I, O));
  });

  it.each([[1, 1], [4, 9], [35, 1000], [3, 10000]])('softmax cross-entropy R=%i V=%i, with ignored targets and extreme scores', (R, V) => {
    const scores = randomArray(R * V, 11).map((v) => v * 20);
    if (V > 5) scores[3] = 80; // far above the rest: probabilities underflow to 0 elsewhere in that row
    const ts = randomIds(R, V, 12);
    if (R > 2) ts[1] = -1;
    same('softmaxForward', [new Float32Array(R * V)], (be, [ys]) => be.softmaxCrossEntropyForward(ys, scores, ts, R, V));
    const ys = new Float32Array(R * V);
    jsBackend.softmaxCrossEntropyForward(ys, scores, ts, R, V);
    same('softmaxBackward', [new Float32Array(R * V)], (be, [dx]) => be.softmaxCrossEntropyBackward(dx, ys, ts, 1 / R, R, V));
    same('softmaxBackward in place', [Float32Array.from(ys)], (be, [y]) => be.softmaxCrossEntropyBackward(y, y, ts, 0.5, R, V));
    // The gradient made in the forward's passes (gradScale): what the two calls make, on either backend.
    same('softmaxForward with gradScale', [new Float32Array(R * V)], (be, [dx]) => be.softmaxCrossEntropyForward(dx, scores, ts, R, V, 1 / R));
    same('softmaxForward with gradScale in place', [Float32Array.from(scores)], (be, [x]) => be.softmaxCrossEntropyForward(x, x, ts, R, V, 0.5));
    for (const be of native ? [jsBackend, native] : [jsBackend]) {
      const twoCalls = new Float32Array(R * V), oneCall = new Float32Array(R * V);
      const loss = be.softmaxCrossEntropyForward(twoCalls, scores, ts, R, V);
      be.softmaxCrossEntropyBackward(twoCalls, twoCalls, ts, 1 / R, R, V);
      expect(be.softmaxCrossEntropyForward(oneCall, scores, ts, R, V, 1 / R)).toBe(loss);
      for (let i = 0; i < R * V; i++) {
        if (!(Math.abs(oneCall[i] - twoCalls[i]) <= 4e-7 / R)) throw new Error(`${be.name} [${i}]: ${oneCall[i]} vs ${twoCalls[i]}`);
      }
    }
  });

  it('softmax cross-entropy lets a NaN score reach the loss', () => {
    const scores = Float32Array.from([1, NaN, 2, 3]);
    expect(native!.softmaxCrossEntropyForward(new Float32Array(4), scores, Int32Array.from([0, 1]), 2, 2)).toBeNaN();
  });


  it('softmax probabilities within a few ulp of a float64 softmax, every row length 1..40 (vector tails) and 1000', () => {
    for (const V of [...Array.from({ length: 40 }, (_, i) => i + 1), 1000]) {
      const R = 3;
      const scores = randomArray(R * V, 100 + V).map((v) => v * 15);
      const ts = randomIds(R, V, 200 + V);
      const ys = new Float32Array(R * V);
      const loss = native!.softmaxCrossEntropyForward(ys, scores, ts, R, V);
      let exactLoss = 0;
      for (let r = 0; r < R; r++) {
        const row = Array.from(scores.subarray(r * V, (r + 1) * V));
        const m = Math.max(...row);
        const sum = row.reduce((s, x) => s + Math.exp(x - m), 0);
        exactLoss += Math.log(sum) - (row[ts[r]] - m);
        row.forEach((x, j) => {
          const p = Math.exp(x - m) / sum;
          // exp's ~1 ulp and the normalisation's few, plus the float32 rounding of x - max (relative 2^-24 of it).
          if (!(Math.abs(ys[r * V + j] - p) <= (1e-6 + Math.abs(x - m) * 2 ** -23) * p + 1e-38)) throw new Error(`V=${V} row ${r} word ${j}: ${ys[r * V + j]} vs ${p}`);
        });
      }
      expect(Math.abs(loss - exactLoss)).toBeLessThanOrEqual(1e-6 * R * Math.max(1, exactLoss / R));
    }
    // Infinite scores as exp_f32 treats them: -inf clamps to a probability of about 1e-38, +inf makes the row NaN.
    const ys = new Float32Array(4);
    expect(native!.softmaxCrossEntropyForward(ys, Float32Array.from([0, -Infinity, 1, 2]), Int32Array.of(0), 1, 4)).toBeCloseTo(2.4076, 4);
    expect(ys[1]).toBeLessThan(1e-37);
    expect(native!.softmaxCrossEntropyForward(ys, Float32Array.from([0, Infinity, 1, 2]), Int32Array.of(0), 1, 4)).toBeNaN();
  });
  it.each([[1, 1, 1], [6, 10, 3], [50, 418, 100]])('embedding gather and scatter-add R=%i V=%i D=%i, repeated ids', (R, V, D) => {
    const W = randomArray(V * D, 13), ids = randomIds(R, V, 14), dout = randomArray(R * D, 15);
    if (R > 2) ids[2] = ids[0];
    same('embeddingForward', [new Float32Array(R * D)], (be, [out]) => be.embeddingForward(out, W, ids, R, V, D));
    same('embeddingBackward', [randomArray(V * D, 16)], (be, [dW]) => be.embeddingBackward(dW, dout, ids, R, V, D));
  });

  it.each([[false], [true]])('gatherWords and scatterAddWords (transposed %s), repeated words adding up', (transW) => {
    const H = 7, V = 23, n = 40;
    const W = randomArray(H * V, 30), src = randomArray(n * H, 31);
    const ids = Int32Array.from({ length: n }, (_, j) => (j * 5) % V);
    same('gatherWords', [new Float32Array(n * H)], (be, [out]) => be.gatherWords(out, W, ids, transW, H, V, n));
    same('scatterAddWords', [randomArray(H * V, 32)], (be, [dW]) => be.scatterAddWords(dW, src, ids, transW, H, V, n));
    // Against the definition: row j of the gather is word ids[j]'s weights.
    const out = new Float32Array(n * H);
    native!.gatherWords(out, W, ids, transW, H, V, n);
    for (let i = 0; i < H; i++) expect(out[3 * H + i]).toBe(transW ? W[ids[3] * H + i] : W[i * V + ids[3]]);
  });

  it.each([1, 7, 1000, 100003])('sgd, sum of squares and scale over %i elements', (n) => {
    const g = randomArray(n, 17);
    same('sgdUpdate', [randomArray(n, 18)], (be, [p]) => be.sgdUpdate(p, g, 0.1));
    same('sumSquares', [], (be) => be.sumSquares(g));
    same('addSumSquares', [randomArray(n, 20)], (be, [y]) => be.addSumSquares(y, g));
    // The fused zeroing: the same update or sum, and the gradient (block) left all zero.
    same('sgdUpdate zeroGrad', [randomArray(n, 18), Float32Array.from(g)], (be, [p, gz]) => {
      be.sgdUpdate(p, gz, 0.1, true);
      expect(gz.every((x) => x === 0)).toBe(true);
    });
    same('addSumSquares zeroX', [randomArray(n, 20), Float32Array.from(g)], (be, [y, x]) => {
      const r = be.addSumSquares(y, x, true);
      expect(x.every((e) => e === 0)).toBe(true);
      return r;
    });
    same('zero', [randomArray(n, 21)], (be, [x]) => be.zero(x));
    same('scale', [randomArray(n, 19)], (be, [x]) => be.scale(x, -0.3));
  });
});
