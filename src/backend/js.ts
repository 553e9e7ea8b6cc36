/**
 * The pure-TypeScript backend: plain loops over row-major Float32Arrays. It is the reference that the native
 * backend is tested against, the fallback where the addon is not built, and the baseline of the benchmarks.
 * Legend: see ./types.ts.
 */
import type { Backend } from './types';
import * as v from './validate';

// Module-level bindings: a global lookup per call is slow inside vm contexts (e.g. jest).
const { exp, tanh, log, min } = Math;

/** Column block for the NN/TN products: keeps a block of C rows and a block of a B row in cache. */
const JB = 512;

function sgemmJs(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  alpha: number, A: Float32Array, lda: number, B: Float32Array, ldb: number,
  beta: number, C: Float32Array, ldc: number,
): void {
  // C = beta * C (beta == 0 must not read C: it may hold NaN).
  if (beta !== 1) {
    for (let i = 0; i < M; i++) {
      const c0 = i * ldc;
      if (beta === 0) C.fill(0, c0, c0 + N);
      else for (let j = 0; j < N; j++) C[c0 + j] *= beta;
    }
  }
  if (alpha === 0 || K === 0) return;

  if (!transB) {
    // op(B) = B stored [K,N]: axpy rows of B into rows of C, column-blocked.
    for (let j0 = 0; j0 < N; j0 += JB) {
      const j1 = min(N, j0 + JB);
      for (let i = 0; i < M; i++) {
        const c0 = i * ldc;
        for (let k = 0; k < K; k++) {
          const a = alpha * (transA ? A[k * lda + i] : A[i * lda + k]);
          if (a === 0) continue;
          const b0 = k * ldb;
          for (let j = j0; j < j1; j++) C[c0 + j] += a * B[b0 + j];
        }
      }
    }
    return;
  }

  // op(B) = B^T with B stored [N,K]: C[i,j] += alpha * dot(op(A)[i,:], B[j,:]).
  if (!transA) {
    for (let i = 0; i < M; i++) {
      const a0 = i * lda, c0 = i * ldc;
      for (let j = 0; j < N; j++) {
        const b0 = j * ldb;
        let s = 0;
        for (let k = 0; k < K; k++) s += A[a0 + k] * B[b0 + k];
        C[c0 + j] += alpha * s;
      }
    }
  } else {
    for (let i = 0; i < M; i++) {
      const c0 = i * ldc;
      for (let j = 0; j < N; j++) {
        const b0 = j * ldb;
        let s = 0;
        for (let k = 0; k < K; k++) s += A[k * lda + i] * B[b0 + k];
        C[c0 + j] += alpha * s;
      }
    }
  }
}

/** out[r,:] += b for every row r < R. */
function addBias(out: Float32Array, b: Float32Array, R: number, O: number): void {
  for (let r = 0; r < R; r++) {
    const o0 = r * O;
    for (let j = 0; j < O; j++) out[o0 + j] += b[j];
  }
}

/** Double-precision scratch for sumRows, grown when needed (no allocation per training step). */
let rowAcc = new Float64Array(0);

/** db = the sum over rows of dout [R,O]. */
function sumRows(db: Float32Array, dout: Float32Array, R: number, O: number): void {
  if (rowAcc.length < O) rowAcc = new Float64Array(O);
  const acc = rowAcc;
  acc.fill(0, 0, O);
  for (let r = 0; r < R; r++) {
    const o0 = r * O;
    for (let j = 0; j < O; j++) acc[j] += dout[o0 + j];
  }
  for (let j = 0; j < O; j++) db[j] = acc[j];
}

export const jsBackend: Backend = {
  name: 'js',

  sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) {
    const g = v.sgemmArgs(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    sgemmJs(g.transA, g.transB, g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, g.C, g.ldc);
  },

  embeddingForward(out, W, ids, R, V, D) {
    v.dim('R', R); v.dim('V', V); v.dim('D', D);
    v.f32('out', out, v.product('R*D', R, D), 'R*D');
    v.f32('W', W, v.product('V*D', V, D), 'V*D');
    v.i32('ids', ids, R, 'R');
    v.ids('ids', ids, R, V);
    for (let r = 0; r < R; r++) out.set(W.subarray(ids[r] * D, ids[r] * D + D), r * D);
  },

  embeddingBackward(dW, dout, ids, R, V, D) {
    v.dim('R', R); v.dim('V', V); v.dim('D', D);
    v.f32('dW', dW, v.product('V*D', V, D), 'V*D');
    v.f32('dout', dout, v.product('R*D', R, D), 'R*D');
    v.i32('ids', ids, R, 'R');
    v.ids('ids', ids, R, V);
    dW.fill(0, 0, V * D);
    for (let r = 0; r < R; r++) {
      const w0 = ids[r] * D, d0 = r * D;
      for (let j = 0; j < D; j++) dW[w0 + j] += dout[d0 + j];
    }
  },

  rnnForward(hs, xs, h0, Wx, Wh, b, N, T, D, H) {
    v.dim('N', N); v.dim('T', T); v.dim('D', D); v.dim('H', H);
    const NT = v.product('N*T', N, T);
    v.f32('hs', hs, v.product('N*T*H', NT, H), 'N*T*H');
    v.f32('xs', xs, v.product('N*T*D', NT, D), 'N*T*D');
    v.f32('h0', h0, v.product('N*H', N, H), 'N*H');
    v.f32('Wx', Wx, v.product('D*H', D, H), 'D*H');
    v.f32('Wh', Wh, v.product('H*H', H, H), 'H*H');
    v.f32('b', b, H, 'H');
    // The time-independent part for all N*T rows at once: hs = xs Wx + b.
    sgemmJs(false, false, NT, H, D, 1, xs, D, Wx, H, 0, hs, H);
    addBias(hs, b, NT, H);
    const TH = T * H;
    for (let t = 0; t < T; t++) {
      // hs[:,t] += h_{t-1} Wh, rows of hs[:,t] are T*H apart.
      const ht = hs.subarray(t * H);
      if (t === 0) sgemmJs(false, false, N, H, H, 1, h0, H, Wh, H, 1, ht, TH);
      else sgemmJs(false, false, N, H, H, 1, hs.subarray((t - 1) * H), TH, Wh, H, 1, ht, TH);
      for (let n = 0; n < N; n++) {
        const o = n * TH + t * H;
        for (let j = 0; j < H; j++) hs[o + j] = tanh(hs[o + j]);
      }
    }
  },

  rnnBackward(dxs, dWx, dWh, db, dh0, dhs, xs, hs, h0, Wx, Wh, work, N, T, D, H) {
    v.dim('N', N); v.dim('T', T); v.dim('D', D); v.dim('H', H);
    const NT = v.product('N*T', N, T);
    const NTH = v.product('N*T*H', NT, H);
    v.f32('dxs', dxs, v.product('N*T*D', NT, D), 'N*T*D');
    v.f32('dWx', dWx, v.product('D*H', D, H), 'D*H');
    v.f32('dWh', dWh, v.product('H*H', H, H), 'H*H');
    v.f32('db', db, H, 'H');
    v.f32('dh0', dh0, v.product('N*H', N, H), 'N*H');
    v.f32('dhs', dhs, NTH, 'N*T*H');
    v.f32('xs', xs, v.product('N*T*D', NT, D), 'N*T*D');
    v.f32('hs', hs, NTH, 'N*T*H');
    v.f32('h0', h0, v.product('N*H', N, H), 'N*H');
    v.f32('Wx', Wx, v.product('D*H', D, H), 'D*H');
    v.f32('Wh', Wh, v.product('H*H', H, H), 'H*H');
    v.f32('work', work, 2 * NTH, '2*N*T*H');
    const dt = work.subarray(0, NTH); // d(pre-activation) [N,T,H]
    const hprev = work.subarray(NTH, 2 * NTH); // h_{t-1} for every (n,t) [N,T,H]
    const TH = T * H;
    // dh0 doubles as the carried gradient dh_{t} flowing back from step t+1; zero at the window's end.
    dh0.fill(0, 0, N * H);
    for (let t = T - 1; t >= 0; t--) {
      for (let n = 0; n < N; n++) {
        const o = n * TH + t * H, c = n * H;
        for (let j = 0; j < H; j++) {
          const h = hs[o + j];
          dt[o + j] = (dhs[o + j] + dh0[c + j]) * (1 - h * h);
        }
      }
      // carry = dt[:,t] Wh^T
      sgemmJs(false, true, N, H, H, 1, dt.subarray(t * H), TH, Wh, H, 0, dh0, H);
    }
    for (let n = 0; n < N; n++) {
      hprev.set(h0.subarray(n * H, n * H + H), n * TH);
      if (T > 1) hprev.set(hs.subarray(n * TH, n * TH + (T - 1) * H), n * TH + H);
    }
    // The time-independent products over all N*T rows at once.
    sgemmJs(true, false, D, H, NT, 1, xs, D, dt, H, 0, dWx, H);
    sgemmJs(true, false, H, H, NT, 1, hprev, H, dt, H, 0, dWh, H);
    sumRows(db, dt, NT, H);
    sgemmJs(false, true, NT, D, H, 1, dt, H, Wx, H, 0, dxs, D);
  },

  affineForward(out, x, W, b, R, I, O) {
    v.dim('R', R); v.dim('I', I); v.dim('O', O);
    v.f32('out', out, v.product('R*O', R, O), 'R*O');
    v.f32('x', x, v.product('R*I', R, I), 'R*I');
    v.f32('W', W, v.product('I*O', I, O), 'I*O');
    v.f32('b', b, O, 'O');
    sgemmJs(false, false, R, O, I, 1, x, I, W, O, 0, out, O);
    addBias(out, b, R, O);
  },

  affineBackward(dx, dW, db, dout, x, W, work, R, I, O) {
    v.dim('R', R); v.dim('I', I); v.dim('O', O);
    v.f32('dx', dx, v.product('R*I', R, I), 'R*I');
    v.f32('dW', dW, v.product('I*O', I, O), 'I*O');
    v.f32('db', db, O, 'O');
    v.f32('dout', dout, v.product('R*O', R, O), 'R*O');
    v.f32('x', x, v.product('R*I', R, I), 'R*I');
    v.f32('W', W, v.product('I*O', I, O), 'I*O');
    v.f32('work', work, v.product('R*I', R, I), 'R*I');
    sgemmJs(false, true, R, I, O, 1, dout, O, W, O, 0, dx, I);
    sgemmJs(true, false, I, O, R, 1, x, I, dout, O, 0, dW, O);
    sumRows(db, dout, R, O);
  },

  softmaxCrossEntropyForward(ys, scores, ts, R, V) {
    v.dim('R', R); v.dim('V', V, 1);
    const RV = v.product('R*V', R, V);
    v.f32('ys', ys, RV, 'R*V');
    v.f32('scores', scores, RV, 'R*V');
    v.i32('ts', ts, R, 'R');
    v.ids('ts', ts, R, V, true);
    let loss = 0;
    for (let r = 0; r < R; r++) {
      const o = r * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (scores[o + j] > max) max = scores[o + j];
      let sum = 0;
      for (let j = 0; j < V; j++) {
        const e = exp(scores[o + j] - max);
        ys[o + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j < V; j++) ys[o + j] *= inv;
      // -log softmax(x)[t] = log(sum) - (x[t] - max): exact even where ys[t] underflows to 0.
      const t = ts[r];
      if (t !== -1) loss += log(sum) - (scores[o + t] - max);
    }
    return loss;
  },

  softmaxCrossEntropyBackward(dx, ys, ts, scale, R, V) {
    v.dim('R', R); v.dim('V', V, 1);
    const RV = v.product('R*V', R, V);
    v.f32('dx', dx, RV, 'R*V');
    v.f32('ys', ys, RV, 'R*V');
    v.i32('ts', ts, R, 'R');
    v.ids('ts', ts, R, V, true);
    v.finite('scale', scale);
    for (let r = 0; r < R; r++) {
      const o = r * V, t = ts[r];
      if (t === -1) {
        dx.fill(0, o, o + V);
        continue;
      }
      const yt = ys[o + t]; // read before the loop: dx may alias ys
      for (let j = 0; j < V; j++) dx[o + j] = ys[o + j] * scale;
      dx[o + t] = (yt - 1) * scale;
    }
  },

  sgdUpdate(param, grad, lr) {
    v.f32('param', param, 0);
    v.f32('grad', grad, param.length, 'param.length');
    v.finite('lr', lr);
    for (let i = 0; i < param.length; i++) param[i] -= lr * grad[i];
  },

  sumSquares(x) {
    v.f32('x', x, 0);
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i] * x[i];
    return s;
  },

  scale(x, s) {
    v.f32('x', x, 0);
    v.finite('s', s);
    for (let i = 0; i < x.length; i++) x[i] *= s;
  },
};
