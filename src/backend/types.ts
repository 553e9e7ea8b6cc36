/**
 * The arithmetic the layers need, as plain functions on row-major Float32Arrays.
 *
 * Legend (as in the book): N = batch size, T = time steps, D = word-vector size, H = hidden size,
 * V = vocabulary size, R = rows (usually N*T). Outputs come first, sizes last. Every output buffer is
 * provided by the caller (no allocation per call) and is overwritten unless the op says it accumulates.
 *
 * Two implementations: `js` (plain TypeScript loops, the reference and the fallback) and `native`
 * (C++ on OpenBLAS). Both must give the same numbers up to float32 summation order.
 */
export interface Backend {
  readonly name: 'js' | 'native';

  /**
   * C = alpha * op(A) * op(B) + beta * C on row-major storage, with op(A) of shape [M,K], op(B) [K,N],
   * C [M,N]; lda/ldb/ldc are the row strides of the stored matrices. When beta is 0, C is not read.
   */
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    alpha: number, A: Float32Array, lda: number, B: Float32Array, ldb: number,
    beta: number, C: Float32Array, ldc: number,
  ): void;

  /** out[r,:] = W[ids[r],:]. out [R,D], W [V,D], ids [R] with 0 <= id < V. */
  embeddingForward(out: Float32Array, W: Float32Array, ids: Int32Array, R: number, V: number, D: number): void;

  /** dW = 0, then dW[ids[r],:] += dout[r,:]. dW [V,D], dout [R,D], ids [R]. */
  embeddingBackward(dW: Float32Array, dout: Float32Array, ids: Int32Array, R: number, V: number, D: number): void;

  /**
   * The whole TimeRNN forward: hs[:,t] = tanh(h_{t-1} Wh + xs[:,t] Wx + b), h_{-1} = h0.
   * hs [N,T,H], xs [N,T,D], h0 [N,H], Wx [D,H], Wh [H,H], b [H].
   */
  rnnForward(
    hs: Float32Array, xs: Float32Array, h0: Float32Array, Wx: Float32Array, Wh: Float32Array, b: Float32Array,
    N: number, T: number, D: number, H: number,
  ): void;

  /**
   * The whole TimeRNN backward (truncated BPTT over the T steps of this call).
   * Writes dxs [N,T,D], dWx [D,H], dWh [H,H], db [H], dh0 [N,H] (gradient at the initial state);
   * reads dhs [N,T,H], xs [N,T,D], hs [N,T,H], h0 [N,H], Wx [D,H], Wh [H,H].
   * work [2*N*T*H] is scratch space.
   */
  rnnBackward(
    dxs: Float32Array, dWx: Float32Array, dWh: Float32Array, db: Float32Array, dh0: Float32Array,
    dhs: Float32Array, xs: Float32Array, hs: Float32Array, h0: Float32Array, Wx: Float32Array, Wh: Float32Array,
    work: Float32Array, N: number, T: number, D: number, H: number,
  ): void;

  /** out = x W + b. out [R,O], x [R,I], W [I,O], b [O]. */
  affineForward(out: Float32Array, x: Float32Array, W: Float32Array, b: Float32Array, R: number, I: number, O: number): void;

  /**
   * dx = dout W^T, dW = x^T dout, db = sum over rows of dout. dx [R,I], dW [I,O], db [O], dout [R,O], x [R,I];
   * work [R*I] is scratch space.
   */
  affineBackward(
    dx: Float32Array, dW: Float32Array, db: Float32Array, dout: Float32Array, x: Float32Array, W: Float32Array,
    work: Float32Array, R: number, I: number, O: number,
  ): void;

  /**
   * ys = softmax(scores) row by row; returns the summed cross-entropy -log ys[r, ts[r]] over the rows whose
   * target is not -1 (those rows still get their probabilities). ys [R,V], scores [R,V], ts [R].
   */
  softmaxCrossEntropyForward(ys: Float32Array, scores: Float32Array, ts: Int32Array, R: number, V: number): number;

  /** dx = (ys - onehot(ts)) * scale; rows whose target is -1 get 0. dx may alias ys. dx, ys [R,V], ts [R]. */
  softmaxCrossEntropyBackward(dx: Float32Array, ys: Float32Array, ts: Int32Array, scale: number, R: number, V: number): void;

  /** param -= lr * grad, element-wise over equal-length arrays. */
  sgdUpdate(param: Float32Array, grad: Float32Array, lr: number): void;

  /** The sum of squares of x, accumulated in double precision. */
  sumSquares(x: Float32Array): number;

  /** x *= s. */
  scale(x: Float32Array, s: number): void;
}
