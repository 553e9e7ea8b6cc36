/**
 * The pure-TypeScript backend: plain loops over row-major Float32Arrays. It is the reference that the native
 * backend is tested against, the fallback where the addon is not built, and the baseline of the benchmarks.
 * Legend: see ./types.ts. Every op first checks its arguments against their one declaration (./contract.ts), as
 * they came (`arguments`), then what a length cannot say (ids in range, class groups, tree paths).
 */
/* eslint-disable prefer-rest-params -- checkOp reads each op's arguments as they came */
import type { Backend, Precision } from './types';
import { JsWordCounter, renumberFileJs } from './words';
import * as v from './validate';
import { checkOp } from './contract';

// Module-level bindings: a global lookup per call is slow inside vm contexts (e.g. jest).
const { exp, tanh, log, min, imul, fround } = Math;

function sigmoid(x: number): number {
  return 1 / (1 + exp(-x));
}

/**
 * Blocking of sgemmJs: KC rows of op(B) by NC columns are packed at a time (a panel that stays in cache), and
 * op(A) four rows by KC at a time.
 */
const KC = 256;
const NC = 512;
/** Packed panels in doubles (JavaScript's arithmetic type: no conversion in the inner loop), and a 4x4 tile. */
const packA = new Float64Array(KC * 4);
const packB = new Float64Array(KC * NC);
const tile = new Float64Array(16);

const roundF32 = new Float32Array(1), roundU32 = new Uint32Array(roundF32.buffer);

/** x rounded to the nearest bfloat16 (ties to even), as a number; NaN and infinities pass unchanged. */
export function roundBf16(x: number): number {
  roundF32[0] = x;
  const u = roundU32[0];
  if ((u & 0x7f800000) === 0x7f800000) return roundF32[0];
  roundU32[0] = ((u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000) >>> 0;
  return roundF32[0];
}

/**
 * C = alpha op(A) op(B) + beta C. The product runs on packed panels: op(B)'s rows k0..k0+KC, columns j0..j0+NC in
 * strips of 4 columns, op(A)'s rows in strips of 4; each 4x4 block of C is summed in 16 local variables over
 * the panel's k (register tiling), then added to C. About 3x the speed of the plain triple loop in V8.
 */
/** C = alpha op(A) op(B) + beta C, as Backend.sgemm. */
type Gemm = (
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  alpha: number, A: Float32Array, lda: number, B: Float32Array, ldb: number,
  beta: number, C: Float32Array, ldc: number,
) => void;

function sgemmJs(
  round: boolean, transA: boolean, transB: boolean, M: number, N: number, K: number,
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
  // op(A)[i,k] = A[i*ai + k*ak] and op(B)[k,j] = B[k*bk + j*bj] in the stored arrays.
  const ai = transA ? 1 : lda, ak = transA ? lda : 1;
  const bk = transB ? 1 : ldb, bj = transB ? ldb : 1;
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = min(KC, K - k0);
    for (let j0 = 0; j0 < N; j0 += NC) {
      const nc = min(NC, N - j0), strips = (nc + 3) >> 2;
      // packB[(s*kc + k)*4 + c] = alpha * op(B)[k0+k, j0+4s+c] (zero past N).
      for (let st = 0; st < strips; st++) {
        for (let k = 0; k < kc; k++) {
          const dst = (st * kc + k) * 4, src = (k0 + k) * bk;
          for (let c = 0; c < 4; c++) {
            const j = st * 4 + c;
            packB[dst + c] = j < nc ? alpha * (round ? roundBf16(B[src + (j0 + j) * bj]) : B[src + (j0 + j) * bj]) : 0;
          }
        }
      }
      for (let i0 = 0; i0 < M; i0 += 4) {
        const mr = min(4, M - i0);
        // packA[k*4 + r] = op(A)[i0+r, k0+k] (zero past M).
        for (let k = 0; k < kc; k++) {
          const src = (k0 + k) * ak;
          for (let r = 0; r < 4; r++) packA[k * 4 + r] = r < mr ? (round ? roundBf16(A[(i0 + r) * ai + src]) : A[(i0 + r) * ai + src]) : 0;
        }
        for (let st = 0; st < strips; st++) {
          let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
          let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
          for (let k = 0, ao = 0, bo = st * kc * 4; k < kc; k++, ao += 4, bo += 4) {
            const b0 = packB[bo], b1 = packB[bo + 1], b2 = packB[bo + 2], b3 = packB[bo + 3];
            const a0 = packA[ao], a1 = packA[ao + 1], a2 = packA[ao + 2], a3 = packA[ao + 3];
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
          }
          const j = j0 + st * 4, nr = min(4, nc - st * 4);
          if (mr === 4 && nr === 4) {
            let o = i0 * ldc + j;
            C[o] += c00; C[o + 1] += c01; C[o + 2] += c02; C[o + 3] += c03; o += ldc;
            C[o] += c10; C[o + 1] += c11; C[o + 2] += c12; C[o + 3] += c13; o += ldc;
            C[o] += c20; C[o + 1] += c21; C[o + 2] += c22; C[o + 3] += c23; o += ldc;
            C[o] += c30; C[o + 1] += c31; C[o + 2] += c32; C[o + 3] += c33;
          } else {
            tile[0] = c00; tile[1] = c01; tile[2] = c02; tile[3] = c03; tile[4] = c10; tile[5] = c11; tile[6] = c12; tile[7] = c13;
            tile[8] = c20; tile[9] = c21; tile[10] = c22; tile[11] = c23; tile[12] = c30; tile[13] = c31; tile[14] = c32; tile[15] = c33;
            for (let r = 0; r < mr; r++) for (let c = 0; c < nr; c++) C[(i0 + r) * ldc + j + c] += tile[r * 4 + c];
          }
        }
      }
    }
  }
}

/**
 * ys[o..o+n) = softmax(x[o..o+n)) * scale (ys may be x); returns -log softmax(x)[t] as log(sum) - (x[t] - max),
 * exact even where ys[t] underflows to 0, or 0 when t is -1. x[t] is read before ys is written.
 */
function softmaxRow(ys: Float32Array, x: Float32Array, o: number, n: number, t: number, scale = 1): number {
  const xt = t === -1 ? 0 : x[o + t];
  let max = -Infinity;
  for (let j = 0; j < n; j++) if (x[o + j] > max) max = x[o + j];
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const e = exp(x[o + j] - max);
    ys[o + j] = e;
    sum += e;
  }
  const inv = scale / sum;
  for (let j = 0; j < n; j++) ys[o + j] *= inv;
  return t === -1 ? 0 : log(sum) - (xt - max);
}

/** out[r,:] += b for every row r < R. */
function addBias(out: Float32Array, b: Float32Array, R: number, O: number): void {
  for (let r = 0; r < R; r++) {
    const o0 = r * O;
    for (let j = 0; j < O; j++) out[o0 + j] += b[j];
  }
}

/** db += the sum over rows of dout [R,O] (rows ld apart), summed in double precision. */
type RowSum = (db: Float32Array, dout: Float32Array, R: number, O: number, ld?: number) => void;

/** A RowSum with its own double-precision scratch, grown when needed (no allocation per training step). */
function rowSummer(): RowSum {
  let acc = new Float64Array(0);
  return (db, dout, R, O, ld = O) => {
    if (acc.length < O) acc = new Float64Array(O);
    for (let j = 0; j < O; j++) acc[j] = db[j];
    for (let r = 0; r < R; r++) {
      const o0 = r * ld;
      for (let j = 0; j < O; j++) acc[j] += dout[o0 + j];
    }
    for (let j = 0; j < O; j++) db[j] = acc[j];
  };
}

/** murmur3's 32-bit finaliser of h ^ k * golden ratio: one step of the counter-based dropout hash. */
function mix(h: number, k: number): number {
  h = (h ^ imul(k, 0x9e3779b9)) >>> 0;
  h = imul(h ^ (h >>> 16), 0x85ebca6b);
  h = imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The hash of (seed, iteration, site, row, step) that every unit of that position's mask starts from. */
export function dropoutBase(seed: number, iteration: number, site: number, row: number, t: number): number {
  return mix(mix(mix(mix(mix(0x243f6a88, seed), iteration), site), row), t);
}

/** 32 random bits for one unit; the unit is kept when they are >= p * 2^32 (native/kernels.cc computes the same). */
export function dropoutBits(base: number, unit: number): number {
  return mix(base, unit);
}

/** A [NT,G] = xs [NT,D] Wx [D,G] + b [G]: a recurrent layer's input products for all N*T rows at once. */
function inputProducts(gemm: Gemm, A: Float32Array, xs: Float32Array, Wx: Float32Array, b: Float32Array, NT: number, D: number, G: number): void {
  gemm(false, false, NT, G, D, 1, xs, D, Wx, G, 0, A, G);
  addBias(A, b, NT, G);
}

/** dWx [D,G] += xs^T dA, db [G] += the row sums of dA, dxs [NT,D] = dA Wx^T: the time-independent part of a backward. */
function inputGradients(gemm: Gemm, sumRows: RowSum, dxs: Float32Array, dWx: Float32Array, db: Float32Array, dA: Float32Array, xs: Float32Array, Wx: Float32Array,
  NT: number, D: number, G: number): void {
  gemm(true, false, D, G, NT, 1, xs, D, dA, G, 1, dWx, G);
  sumRows(db, dA, NT, G);
  gemm(false, true, NT, D, G, 1, dA, G, Wx, G, 0, dxs, D);
}

/** The sizes of a recurrent op with G = gates*H columns per row (checkOp has refused any that overflow). */
function recurrentSizes(gates: number, N: number, T: number, D: number, H: number): { NT: number; G: number; NH: number; NTH: number; NTD: number; NTG: number } {
  const NT = N * T, G = gates * H;
  return { NT, G, NH: N * H, NTH: NT * H, NTD: NT * D, NTG: NT * G };
}

/** hprev [N,T,H] = h_{t-1} for every (n,t): h0 [N,H] at t = 0, else hs [N,T,H] one step back. */
function shiftStates(hprev: Float32Array, h0: Float32Array, hs: Float32Array, N: number, T: number, H: number): void {
  const TH = T * H;
  for (let n = 0; n < N; n++) {
    hprev.set(h0.subarray(n * H, n * H + H), n * TH);
    if (T > 1) hprev.set(hs.subarray(n * TH, n * TH + (T - 1) * H), n * TH + H);
  }
}

/**
 * The pure-TypeScript backend at a precision: with 'bf16' every product rounds its operands to bfloat16 (emulated),
 * sums in float32 as the fp32 backend does.
 */
export function makeJsBackend(precision: Precision): Backend {
  const round = precision === 'bf16';
  const gemm: Gemm = (...args) => sgemmJs(round, ...args);
  const sumRows = rowSummer();
  return {
    name: 'js',
    precision,
    bf16Engine: 'emulated',
    getThreads: () => 1,
    setThreads(n) {
      v.dim('n', n, 1);
    },

    sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) {
      checkOp('sgemm', arguments);
      const g = v.sgemmArgs(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      sgemmJs(round, g.transA, g.transB, g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, g.C, g.ldc);
    },

    embeddingForward(out, W, ids, R, V, D) {
      checkOp('embeddingForward', arguments);
      v.ids('ids', ids, R, V);
      for (let r = 0; r < R; r++) out.set(W.subarray(ids[r] * D, ids[r] * D + D), r * D);
    },

    embeddingBackward(dW, dout, ids, R, V, D) {
      checkOp('embeddingBackward', arguments);
      v.ids('ids', ids, R, V);
      for (let r = 0; r < R; r++) {
        const w0 = ids[r] * D, d0 = r * D;
        for (let j = 0; j < D; j++) dW[w0 + j] += dout[d0 + j];
      }
    },

    rnnForward(hs, xs, h0, Wx, Wh, b, N, T, D, H) {
      checkOp('rnnForward', arguments);
      const NT = v.product('N*T', N, T);
      // The time-independent part for all N*T rows at once: hs = xs Wx + b.
      inputProducts(gemm, hs, xs, Wx, b, NT, D, H);
      const TH = T * H;
      for (let t = 0; t < T; t++) {
        // hs[:,t] += h_{t-1} Wh, rows of hs[:,t] are T*H apart.
        const ht = hs.subarray(t * H);
        if (t === 0) gemm(false, false, N, H, H, 1, h0, H, Wh, H, 1, ht, TH);
        else gemm(false, false, N, H, H, 1, hs.subarray((t - 1) * H), TH, Wh, H, 1, ht, TH);
        for (let n = 0; n < N; n++) {
          const o = n * TH + t * H;
          for (let j = 0; j < H; j++) hs[o + j] = tanh(hs[o + j]);
        }
      }
    },

    rnnBackward(dxs, dWx, dWh, db, dh0, dhs, xs, hs, h0, Wx, Wh, work, N, T, D, H) {
      checkOp('rnnBackward', arguments);
      const NT = v.product('N*T', N, T);
      const NTH = v.product('N*T*H', NT, H);
      const dt = work.subarray(0, NTH); // d(pre-activation) [N,T,H]
      const hprev = work.subarray(NTH, 2 * NTH); // h_{t-1} for every (n,t) [N,T,H]
      const TH = T * H;
      // dh0 doubles as the carried gradient dh_{t} flowing back from step t+1; zero at the window's end.
      dh0.fill(0, 0, N * H);
      dxs.fill(0, 0, NT * D);
      if (NT === 0 || H === 0) return; // an empty window: no gradient
      for (let t = T - 1; t >= 0; t--) {
        for (let n = 0; n < N; n++) {
          const o = n * TH + t * H, c = n * H;
          for (let j = 0; j < H; j++) {
            const h = hs[o + j];
            dt[o + j] = (dhs[o + j] + dh0[c + j]) * (1 - h * h);
          }
        }
        // carry = dt[:,t] Wh^T
        gemm(false, true, N, H, H, 1, dt.subarray(t * H), TH, Wh, H, 0, dh0, H);
      }
      shiftStates(hprev, h0, hs, N, T, H);
      // The time-independent products over all N*T rows at once.
      gemm(true, false, H, H, NT, 1, hprev, H, dt, H, 1, dWh, H);
      inputGradients(gemm, sumRows, dxs, dWx, db, dt, xs, Wx, NT, D, H);
    },

    lstmForward(hs, cs, gates, xs, h0, c0, Wx, Wh, b, N, T, D, H) {
      checkOp('lstmForward', arguments);
      const s = recurrentSizes(4, N, T, D, H);
      if (s.NT === 0 || H === 0) return;
      const G = s.G, TG = T * G, TH = T * H;
      // The input products for all N*T rows at once: A = xs Wx + b.
      inputProducts(gemm, gates, xs, Wx, b, s.NT, D, G);
      for (let t = 0; t < T; t++) {
        // A[:,t] += h_{t-1} Wh; rows of A[:,t] are T*4H apart, of hs[:,t-1] T*H apart.
        const At = gates.subarray(t * G);
        if (t === 0) gemm(false, false, N, G, H, 1, h0, H, Wh, G, 1, At, TG);
        else gemm(false, false, N, G, H, 1, hs.subarray((t - 1) * H), TH, Wh, G, 1, At, TG);
        for (let n = 0; n < N; n++) {
          const a = n * TG + t * G, o = n * TH + t * H;
          const cp = t === 0 ? c0 : cs, cpo = t === 0 ? n * H : o - H;
          for (let j = 0; j < H; j++) {
            const f = sigmoid(gates[a + j]);
            const g = tanh(gates[a + H + j]);
            const i = sigmoid(gates[a + 2 * H + j]);
            const og = sigmoid(gates[a + 3 * H + j]);
            gates[a + j] = f;
            gates[a + H + j] = g;
            gates[a + 2 * H + j] = i;
            gates[a + 3 * H + j] = og;
            const c = fround(f * cp[cpo + j] + g * i);
            cs[o + j] = c;
            hs[o + j] = og * tanh(c);
          }
        }
      }
    },

    lstmBackward(dxs, dWx, dWh, db, dh0, dc0, dhs, xs, hs, cs, gates, h0, c0, Wx, Wh, work, N, T, D, H) {
      checkOp('lstmBackward', arguments);
      const s = recurrentSizes(4, N, T, D, H);
      const G = s.G, TG = T * G, TH = T * H;
      dh0.fill(0, 0, s.NH);
      dc0.fill(0, 0, s.NH);
      dxs.fill(0, 0, s.NTD);
      if (s.NT === 0 || H === 0) return;
      const dA = work.subarray(0, s.NTG); // d(pre-activation) [N,T,4H]
      const hprev = work.subarray(s.NTG, s.NTG + s.NTH); // h_{t-1} for every (n,t) [N,T,H]
      // dh0 and dc0 carry dh_t and dc_t back from step t+1; zero at the window's end.
      for (let t = T - 1; t >= 0; t--) {
        for (let n = 0; n < N; n++) {
          const a = n * TG + t * G, o = n * TH + t * H, c = n * H;
          const cp = t === 0 ? c0 : cs, cpo = t === 0 ? n * H : o - H;
          for (let j = 0; j < H; j++) {
            const f = gates[a + j], g = gates[a + H + j], i = gates[a + 2 * H + j], og = gates[a + 3 * H + j];
            const tc = tanh(cs[o + j]);
            const dh = dhs[o + j] + dh0[c + j];
            const ds = dc0[c + j] + dh * og * (1 - tc * tc);
            dA[a + j] = ds * cp[cpo + j] * f * (1 - f);
            dA[a + H + j] = ds * i * (1 - g * g);
            dA[a + 2 * H + j] = ds * g * i * (1 - i);
            dA[a + 3 * H + j] = dh * tc * og * (1 - og);
            dc0[c + j] = ds * f;
          }
        }
        // dh_{t-1} = dA[:,t] Wh^T
        gemm(false, true, N, H, G, 1, dA.subarray(t * G), TG, Wh, G, 0, dh0, H);
      }
      shiftStates(hprev, h0, hs, N, T, H);
      gemm(true, false, H, G, s.NT, 1, hprev, H, dA, G, 1, dWh, G);
      inputGradients(gemm, sumRows, dxs, dWx, db, dA, xs, Wx, s.NT, D, G);
    },

    gruForward(hs, gates, rh, xs, h0, Wx, Wh, b, N, T, D, H) {
      checkOp('gruForward', arguments);
      const s = recurrentSizes(3, N, T, D, H);
      if (s.NT === 0 || H === 0) return;
      const G = s.G, TG = T * G, TH = T * H;
      inputProducts(gemm, gates, xs, Wx, b, s.NT, D, G);
      for (let t = 0; t < T; t++) {
        const At = gates.subarray(t * G);
        const hp = t === 0 ? h0 : hs.subarray((t - 1) * H), ldh = t === 0 ? H : TH;
        // z and r: A[:,t,0:2H] += h_{t-1} Wh[:,0:2H]
        gemm(false, false, N, 2 * H, H, 1, hp, ldh, Wh, G, 1, At, TG);
        for (let n = 0; n < N; n++) {
          const a = n * TG + t * G, o = n * TH + t * H, p = n * ldh;
          for (let j = 0; j < H; j++) {
            const z = sigmoid(gates[a + j]);
            const r = sigmoid(gates[a + H + j]);
            gates[a + j] = z;
            gates[a + H + j] = r;
            rh[o + j] = r * hp[p + j];
          }
        }
        // n: A[:,t,2H:3H] += (r h) Wh[:,2H:3H]
        gemm(false, false, N, H, H, 1, rh.subarray(t * H), TH, Wh.subarray(2 * H), G, 1, At.subarray(2 * H), TG);
        for (let n = 0; n < N; n++) {
          const a = n * TG + t * G, o = n * TH + t * H, p = n * ldh;
          for (let j = 0; j < H; j++) {
            const z = gates[a + j];
            const nn = tanh(gates[a + 2 * H + j]);
            gates[a + 2 * H + j] = nn;
            const h = hp[p + j];
            hs[o + j] = h + z * (nn - h);
          }
        }
      }
    },

    gruBackward(dxs, dWx, dWh, db, dh0, dhs, xs, hs, gates, rh, h0, Wx, Wh, work, N, T, D, H) {
      checkOp('gruBackward', arguments);
      const s = recurrentSizes(3, N, T, D, H);
      const G = s.G, TG = T * G, TH = T * H;
      dh0.fill(0, 0, s.NH);
      dxs.fill(0, 0, s.NTD);
      if (s.NT === 0 || H === 0) return;
      const dA = work.subarray(0, s.NTG); // d(pre-activation) [N,T,3H]
      const hprev = work.subarray(s.NTG, s.NTG + s.NTH); // [N,T,H]
      const drh = work.subarray(s.NTG + s.NTH, s.NTG + s.NTH + s.NH); // d(r h) at one step [N,H]
      for (let t = T - 1; t >= 0; t--) {
        const hp = t === 0 ? h0 : hs.subarray((t - 1) * H), ldh = t === 0 ? H : TH;
        // dh0 holds dh_t (from step t+1); it becomes the direct part of dh_{t-1}.
        for (let n = 0; n < N; n++) {
          const a = n * TG + t * G, o = n * TH + t * H, c = n * H, p = n * ldh;
          for (let j = 0; j < H; j++) {
            const z = gates[a + j], nn = gates[a + 2 * H + j];
            const dh = dhs[o + j] + dh0[c + j];
            dA[a + j] = dh * (nn - hp[p + j]) * z * (1 - z);
            dA[a + 2 * H + j] = dh * z * (1 - nn * nn);
            dh0[c + j] = dh * (1 - z);
          }
        }
        // d(r h) = dA_n Wh_n^T
        gemm(false, true, N, H, H, 1, dA.subarray(t * G + 2 * H), TG, Wh.subarray(2 * H), G, 0, drh, H);
        for (let n = 0; n < N; n++) {
          const a = n * TG + t * G, c = n * H, p = n * ldh;
          for (let j = 0; j < H; j++) {
            const r = gates[a + H + j];
            dA[a + H + j] = drh[c + j] * hp[p + j] * r * (1 - r);
            dh0[c + j] += drh[c + j] * r;
          }
        }
        // dh_{t-1} += [dA_z, dA_r] Wh[:,0:2H]^T
        gemm(false, true, N, H, 2 * H, 1, dA.subarray(t * G), TG, Wh, G, 1, dh0, H);
      }
      shiftStates(hprev, h0, hs, N, T, H);
      gemm(true, false, H, 2 * H, s.NT, 1, hprev, H, dA, G, 1, dWh, G);
      gemm(true, false, H, H, s.NT, 1, rh, H, dA.subarray(2 * H), G, 1, dWh.subarray(2 * H), G);
      inputGradients(gemm, sumRows, dxs, dWx, db, dA, xs, Wx, s.NT, D, G);
    },

    dropoutForward(out, mask, x, p, seed, iteration, site, row0, N, T, U) {
      checkOp('dropoutForward', arguments);
      const threshold = p * 4294967296;
      const scale = fround(1 / (1 - p));
      for (let r = 0; r < N; r++) {
        for (let t = 0; t < T; t++) {
          const base = dropoutBase(seed, iteration, site, row0 + r, t);
          const o = (r * T + t) * U;
          for (let u = 0; u < U; u++) {
            const m = dropoutBits(base, u) >= threshold ? scale : 0;
            mask[o + u] = m;
            out[o + u] = x[o + u] * m;
          }
        }
      }
    },

    dropoutBackward(dx, dout, mask, R) {
      checkOp('dropoutBackward', arguments);
      for (let i = 0; i < R; i++) dx[i] = dout[i] * mask[i];
    },

    affineForward(out, x, W, b, transW, R, I, O) {
      checkOp('affineForward', arguments);
      if (transW) gemm(false, true, R, O, I, 1, x, I, W, I, 0, out, O);
      else gemm(false, false, R, O, I, 1, x, I, W, O, 0, out, O);
      addBias(out, b, R, O);
    },

    affineBackward(dx, dW, db, dout, x, W, _work, transW, R, I, O) {
      checkOp('affineBackward', arguments);
      if (transW) {
        gemm(false, false, R, I, O, 1, dout, O, W, I, 0, dx, I);
        gemm(true, false, O, I, R, 1, dout, O, x, I, 1, dW, I);
      } else {
        gemm(false, true, R, I, O, 1, dout, O, W, O, 0, dx, I);
        gemm(true, false, I, O, R, 1, x, I, dout, O, 1, dW, O);
      }
      sumRows(db, dout, R, O);
    },

    classSoftmaxForward(op, h) {
      const { zs, zp, probs, hg, W, b, Wc, bc, bounds, ct, order, groups, ts, transW, R, H, V, C, classes } = op;
      checkOp('classSoftmaxForward', [zs, zp, probs, hg, h, W, b, Wc, bc, bounds, ct, order, groups, ts, transW, R, H, V, C, classes]);
      if (C > V) throw new RangeError(`Expected C <= V but received C = ${C}, V = ${V}`);
      const need = v.classGroups(bounds, ct, order, groups, ts, R, V, C);
      v.f32('probs', probs, need, 'sum of group rows x class sizes');
      v.f32('hg', hg, v.product('groups[C]*H', groups[C], H), 'groups[C]*H');
      let loss = 0;
      if (classes) {
        this.affineForward(zs, h, Wc, bc, false, R, H, C);
        loss = this.softmaxCrossEntropyForward(zp, zs, ct, R, C);
      }
      let p = 0;
      for (let c = 0; c < C; c++) {
        const g0 = groups[c], n = groups[c + 1] - g0;
        if (n === 0) continue;
        const lo = bounds[c], m = bounds[c + 1] - lo;
        for (let i = 0; i < n; i++) {
          const r = order[g0 + i];
          hg.set(h.subarray(r * H, r * H + H), (g0 + i) * H);
          probs.set(b.subarray(lo, lo + m), p + i * m);
        }
        const G = hg.subarray(g0 * H), S = probs.subarray(p);
        if (transW) gemm(false, true, n, m, H, 1, G, H, W.subarray(lo * H), H, 1, S, m);
        else gemm(false, false, n, m, H, 1, G, H, W.subarray(lo), V, 1, S, m);
        for (let i = 0; i < n; i++) loss += softmaxRow(probs, probs, p + i * m, m, ts[order[g0 + i]] - lo);
        p += n * m;
      }
      return loss;
    },

    classSoftmaxBackward(op, h, dh, { dW, db, dWc, dbc }, work, scale) {
      const { zp, probs, hg, W, Wc, bounds, ct, order, groups, ts, transW, R, H, V, C, classes } = op;
      checkOp('classSoftmaxBackward', [dh, dW, db, dWc, dbc, work, zp, probs, hg, h, W, Wc, bounds, ct, order, groups, ts, scale, transW, R, H, V, C, classes]);
      if (C > V) throw new RangeError(`Expected C <= V but received C = ${C}, V = ${V}`);
      const need = v.classGroups(bounds, ct, order, groups, ts, R, V, C);
      v.f32('probs', probs, need, 'sum of group rows x class sizes');
      v.f32('hg', hg, v.product('groups[C]*H', groups[C], H), 'groups[C]*H');
      if (classes) {
        this.softmaxCrossEntropyBackward(zp, zp, ct, scale, R, C);
        this.affineBackward(dh, dWc, dbc, zp, h, Wc, work, false, R, H, C);
      }
      let p = 0;
      for (let c = 0; c < C; c++) {
        const g0 = groups[c], n = groups[c + 1] - g0;
        if (n === 0) continue;
        const lo = bounds[c], m = bounds[c + 1] - lo;
        for (let i = 0; i < n; i++) {
          const o = p + i * m;
          for (let j = 0; j < m; j++) probs[o + j] *= scale;
          probs[o + ts[order[g0 + i]] - lo] -= scale;
        }
        const D = probs.subarray(p), G = hg.subarray(g0 * H);
        sumRows(db.subarray(lo), D, n, m);
        if (transW) {
          gemm(true, false, m, H, n, 1, D, m, G, H, 1, dW.subarray(lo * H), H);
          gemm(false, false, n, H, m, 1, D, m, W.subarray(lo * H), H, 0, work, H);
        } else {
          gemm(true, false, H, m, n, 1, G, H, D, m, 1, dW.subarray(lo), V);
          gemm(false, true, n, H, m, 1, D, m, W.subarray(lo), V, 0, work, H);
        }
        for (let i = 0; i < n; i++) {
          const o = order[g0 + i] * H;
          for (let k = 0; k < H; k++) dh[o + k] += work[i * H + k];
        }
        p += n * m;
      }
    },

    gatherWords(out, W, ids, transW, H, V, n) {
      checkOp('gatherWords', arguments);
      v.ids('ids', ids, n, V);
      for (let j = 0; j < n; j++) {
        const w = ids[j];
        for (let i = 0; i < H; i++) out[j * H + i] = transW ? W[w * H + i] : W[i * V + w];
      }
    },

    scatterAddWords(dW, src, ids, transW, H, V, n) {
      checkOp('scatterAddWords', arguments);
      v.ids('ids', ids, n, V);
      for (let j = 0; j < n; j++) {
        const w = ids[j];
        for (let i = 0; i < H; i++) dW[transW ? w * H + i : i * V + w] += src[j * H + i];
      }
    },

    softmaxCrossEntropyForward(ys, scores, ts, R, V, gradScale) {
      checkOp('softmaxCrossEntropyForward', arguments);
      v.ids('ts', ts, R, V, true);
      let loss = 0;
      for (let r = 0; r < R; r++) {
        const o = r * V, t = ts[r];
        if (gradScale === undefined) loss += softmaxRow(ys, scores, o, V, t);
        else if (t === -1) ys.fill(0, o, o + V);
        else {
          loss += softmaxRow(ys, scores, o, V, t, gradScale);
          ys[o + t] -= gradScale;
        }
      }
      return loss;
    },

    softmaxCrossEntropyBackward(dx, ys, ts, scale, R, V) {
      checkOp('softmaxCrossEntropyBackward', arguments);
      v.ids('ts', ts, R, V, true);
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

    sgdUpdate(param, grad, lr, zeroGrad = false) {
      checkOp('sgdUpdate', arguments);
      for (let i = 0; i < param.length; i++) param[i] -= lr * grad[i];
      if (zeroGrad) grad.fill(0, 0, param.length);
    },

    sumSquares(x) {
      checkOp('sumSquares', arguments);
      let s = 0;
      for (let i = 0; i < x.length; i++) s += x[i] * x[i];
      return s;
    },

    zero(x) {
      checkOp('zero', arguments);
      x.fill(0);
    },

    addSumSquares(y, x, zeroX = false) {
      checkOp('addSumSquares', arguments);
      let s = 0;
      for (let i = 0; i < y.length; i++) {
        y[i] += x[i];
        s += y[i] * y[i];
      }
      if (zeroX) x.fill(0, 0, y.length);
      return s;
    },

    sumSquaresRows(x, rows, R, V, D) {
      checkOp('sumSquaresRows', arguments);
      v.ids('rows', rows, R, V);
      let s = 0;
      for (let r = 0; r < R; r++) {
        const o = rows[r] * D;
        for (let i = o; i < o + D; i++) s += x[i] * x[i];
      }
      return s;
    },

    sgdUpdateRows(param, grad, lr, rows, R, V, D, zeroGrad) {
      checkOp('sgdUpdateRows', arguments);
      v.ids('rows', rows, R, V);
      for (let r = 0; r < R; r++) {
        const o = rows[r] * D;
        for (let i = o; i < o + D; i++) param[i] -= lr * grad[i];
        if (zeroGrad) grad.fill(0, o, o + D);
      }
    },

    addSumSquaresRows(y, x, rows, R, V, D, zeroX) {
      checkOp('addSumSquaresRows', arguments);
      v.ids('rows', rows, R, V);
      let s = 0;
      for (let r = 0; r < R; r++) {
        const o = rows[r] * D;
        for (let i = o; i < o + D; i++) {
          y[i] += x[i];
          s += y[i] * y[i];
        }
        if (zeroX) x.fill(0, o, o + D);
      }
      return s;
    },

    scale(x, s) {
      checkOp('scale', arguments);
      for (let i = 0; i < x.length; i++) x[i] *= s;
    },

    treeSoftmaxForward(g, h, W, b, ts, offsets, start, node, code, R, H, V) {
      checkOp('treeSoftmaxForward', arguments);
      let loss = 0;
      v.treeRows(ts, offsets, start, node, g.length, R, V, (r, _t, k0, k1, o) => {
        for (let k = k0; k < k1; k++) {
          const n = v.treeNode(node, k, V), c = code[k];
          if (c !== 0 && c !== 1) throw new RangeError(`Expected code[${k}] 0 or 1 but received ${c}`);
          let s = b[n];
          for (let j = 0; j < H; j++) s += h[r * H + j] * W[n * H + j];
          s = fround(s);
          const z = c === 1 ? s : -s;
          loss -= z >= 0 ? -Math.log1p(exp(-z)) : z - Math.log1p(exp(z));
          g[o + k - k0] = 1 / (1 + exp(-s)) - c;
        }
      });
      return loss;
    },

    treeSoftmaxBackward(dh, dW, db, g, scale, h, W, ts, offsets, start, node, R, H, V) {
      checkOp('treeSoftmaxBackward', arguments);
      dh.fill(0, 0, R * H);
      v.treeRows(ts, offsets, start, node, g.length, R, V, (r, _t, k0, k1, o) => {
        for (let k = k0; k < k1; k++) {
          const n = v.treeNode(node, k, V), gs = fround(g[o + k - k0] * scale);
          for (let j = 0; j < H; j++) {
            dh[r * H + j] += gs * W[n * H + j];
            dW[n * H + j] += gs * h[r * H + j];
          }
          db[n] += gs;
        }
      });
    },

    wordCounter(threads) {
      v.dim('threads', threads, 1);
      if (threads > 2) throw new RangeError(`Expected integer in [1, 2] for threads but received ${threads}`);
      return new JsWordCounter();
    },

    renumberFile: renumberFileJs,
  };
}

export const jsBackend = makeJsBackend('fp32');

/** The js backend with bf16 products (emulated). */
export const jsBf16Backend = makeJsBackend('bf16');
