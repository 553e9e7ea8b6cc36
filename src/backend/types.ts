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
/**
 * The precision of the matrix products: `fp32`, or `bf16` mixed precision (every product's operands rounded to
 * bfloat16 with round to nearest even, the products accumulated and stored in float32; everything else float32).
 * bf16 is emulated (the rounding, then the float32 product): it shows bf16's numbers, not its speed.
 */
export type Precision = 'fp32' | 'bf16';
export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16'];

/** Every word a WordCounter has counted, its count, and the index in `words` of every provisional id (-1: none). */
export interface WordCounts {
  words: string[];
  counts: Float64Array;
  byProvisional: Int32Array;
}

/**
 * Counts the words of a text fed to it in chunks (`rnnlm prepare`): the book's tokenisation (white space between
 * words, an `<eos>` for every '\n') over UTF-8 bytes. Each token is written as a provisional id, which `words()`
 * maps to the word it stands for once the whole text is counted.
 */
export interface WordCounter {
  /**
   * Tokenises bytes[0, length) into ids (one provisional id per token; length ids are always enough). Unless `last`,
   * a word cut by the end of the chunk is left for the next one: the chunk's bytes from `consumed` on start the next
   * chunk. `bad` is the byte offset of a word that is not UTF-8 (counting stopped there), else -1.
   */
  count(bytes: Uint8Array, length: number, last: boolean, ids: Int32Array): { consumed: number; tokens: number; bad: number };
  words(): WordCounts;
}

/**
 * Floats of scratch space (`work`) each recurrent backward needs, for N rows, T steps and H hidden units: the one
 * statement of these sizes, which the layers allocate and the js backend checks (the addon checks the same).
 */
export const SCRATCH = {
  rnnBackward: (N: number, T: number, H: number): number => 2 * N * T * H,
  lstmBackward: (N: number, T: number, H: number): number => 5 * N * T * H,
  gruBackward: (N: number, T: number, H: number): number => 4 * N * T * H + N * H,
} as const;

/**
 * How a backend runs bf16 products: oneDNN on the CPU's bf16 instructions ('native'), oneDNN emulating them where
 * the CPU lacks them, or rounding float32 operands ('emulated').
 */
export type Bf16Engine = 'native' | 'oneDNN-emulated' | 'emulated';

/**
 * What classSoftmaxForward/Backward work on, made once by the layer and updated per call: the sizes, the
 * weights, the grouping of the rows by their target's class, and the scratch the forward fills for the backward.
 */
export interface ClassSoftmaxOp {
  /** Rows, hidden units, words, classes. */
  R: number;
  H: number;
  V: number;
  C: number;
  /** Word weights W [H,V] (or [V,H] when transW) and biases b [V]; class weights Wc [H,C] and biases bc [C]. */
  W: Float32Array;
  b: Float32Array;
  Wc: Float32Array;
  bc: Float32Array;
  transW: boolean;
  /**
   * Class c holds word ids bounds[c] .. bounds[c+1]-1 (bounds [C+1]); ct [R] is each row's target class (-1 where
   * ts [R] is -1); the rows whose words are wanted are grouped by class: order[groups[c]] .. order[groups[c+1]-1]
   * are the rows of class c (groups [C+1]).
   */
  bounds: Int32Array;
  ct: Int32Array;
  order: Int32Array;
  groups: Int32Array;
  ts: Int32Array;
  /** Whether the class part runs (else only the words of the grouped rows). */
  classes: boolean;
  /** Scratch and results: zs, zp [R,C]; hg [count,H]; probs [sum of n_c m_c]. */
  zs: Float32Array;
  zp: Float32Array;
  hg: Float32Array;
  probs: Float32Array;
}

/** The class output's gradients: dW like W, db [V], dWc [H,C], dbc [C]. */
export interface ClassSoftmaxGrads {
  dW: Float32Array;
  db: Float32Array;
  dWc: Float32Array;
  dbc: Float32Array;
}

export interface Backend {
  readonly name: 'js' | 'native';
  readonly precision: Precision;
  readonly bf16Engine: Bf16Engine;

  /**
   * The threads of the backend's matrix products (OpenBLAS's, process-wide), and setting them; the js backend's
   * products run on the calling thread: 1, and setting it changes nothing.
   */
  getThreads(): number;
  setThreads(n: number): void;

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

  /** dW[ids[r],:] += dout[r,:] (accumulates). dW [V,D], dout [R,D], ids [R]. */
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
   * Writes dxs [N,T,D] and dh0 [N,H] (gradient at the initial state); accumulates into dWx [D,H], dWh [H,H], db [H];
   * reads dhs [N,T,H], xs [N,T,D], hs [N,T,H], h0 [N,H], Wx [D,H], Wh [H,H]. work [SCRATCH.rnnBackward] is scratch space.
   */
  rnnBackward(
    dxs: Float32Array, dWx: Float32Array, dWh: Float32Array, db: Float32Array, dh0: Float32Array,
    dhs: Float32Array, xs: Float32Array, hs: Float32Array, h0: Float32Array, Wx: Float32Array, Wh: Float32Array,
    work: Float32Array, N: number, T: number, D: number, H: number,
  ): void;

  /**
   * The whole TimeLSTM forward, gates in the order f, g, i, o:
   * A = x_t Wx + h_{t-1} Wh + b; c_t = sig(f) c_{t-1} + tanh(g) sig(i); h_t = sig(o) tanh(c_t); (h,c)_{-1} = (h0, c0).
   * Writes hs [N,T,H], cs [N,T,H] and gates [N,T,4H] (the activated sig(f), tanh(g), sig(i), sig(o), for backward);
   * reads xs [N,T,D], h0 [N,H], c0 [N,H], Wx [D,4H], Wh [H,4H], b [4H].
   */
  lstmForward(
    hs: Float32Array, cs: Float32Array, gates: Float32Array, xs: Float32Array, h0: Float32Array, c0: Float32Array,
    Wx: Float32Array, Wh: Float32Array, b: Float32Array, N: number, T: number, D: number, H: number,
  ): void;

  /**
   * The whole TimeLSTM backward (truncated BPTT). Writes dxs [N,T,D], dh0 [N,H], dc0 [N,H]; accumulates into
   * dWx [D,4H], dWh [H,4H], db [4H]; reads dhs [N,T,H], xs, hs, cs, gates, h0, c0, Wx, Wh as in lstmForward.
   * work [SCRATCH.lstmBackward] is scratch space.
   */
  lstmBackward(
    dxs: Float32Array, dWx: Float32Array, dWh: Float32Array, db: Float32Array, dh0: Float32Array, dc0: Float32Array,
    dhs: Float32Array, xs: Float32Array, hs: Float32Array, cs: Float32Array, gates: Float32Array,
    h0: Float32Array, c0: Float32Array, Wx: Float32Array, Wh: Float32Array, work: Float32Array,
    N: number, T: number, D: number, H: number,
  ): void;

  /**
   * The whole TimeGRU forward, gates in the order z, r, n: z = sig(x Wx_z + h Wh_z + b_z),
   * r = sig(x Wx_r + h Wh_r + b_r), n = tanh(x Wx_n + (r h) Wh_n + b_n), h_t = (1 - z) h_{t-1} + z n.
   * Writes hs [N,T,H], gates [N,T,3H] (activated z, r, n) and rh [N,T,H] (r * h_{t-1});
   * reads xs [N,T,D], h0 [N,H], Wx [D,3H], Wh [H,3H], b [3H].
   */
  gruForward(
    hs: Float32Array, gates: Float32Array, rh: Float32Array, xs: Float32Array, h0: Float32Array,
    Wx: Float32Array, Wh: Float32Array, b: Float32Array, N: number, T: number, D: number, H: number,
  ): void;

  /**
   * The whole TimeGRU backward (truncated BPTT). Writes dxs [N,T,D], dh0 [N,H]; accumulates into dWx [D,3H],
   * dWh [H,3H], db [3H]; reads dhs [N,T,H] and the forward's xs, hs, gates, rh, h0, Wx, Wh.
   * work [SCRATCH.gruBackward] is scratch space.
   */
  gruBackward(
    dxs: Float32Array, dWx: Float32Array, dWh: Float32Array, db: Float32Array, dh0: Float32Array,
    dhs: Float32Array, xs: Float32Array, hs: Float32Array, gates: Float32Array, rh: Float32Array,
    h0: Float32Array, Wx: Float32Array, Wh: Float32Array, work: Float32Array,
    N: number, T: number, D: number, H: number,
  ): void;

  /**
   * Inverted dropout with a counter-based mask: unit u of row n, step t is kept when
   * dropoutHash(seed, iteration, site, row0 + n, t, u) >= p * 2^32, and kept units are scaled by 1 / (1 - p).
   * Writes mask [N,T,U] (0 or 1/(1-p)) and out [N,T,U] = x * mask; out may alias x. 0 <= p < 1.
   */
  dropoutForward(
    out: Float32Array, mask: Float32Array, x: Float32Array, p: number,
    seed: number, iteration: number, site: number, row0: number, N: number, T: number, U: number,
  ): void;

  /** dx [R] = dout [R] * mask [R]; dx may alias dout. */
  dropoutBackward(dx: Float32Array, dout: Float32Array, mask: Float32Array, R: number): void;

  /**
   * out = x W + b, or with transW out = x E^T + b (tied weights: E is the embedding [O,I]).
   * out [R,O], x [R,I], W [I,O] (or E [O,I]), b [O].
   */
  affineForward(out: Float32Array, x: Float32Array, W: Float32Array, b: Float32Array, transW: boolean, R: number, I: number, O: number): void;

  /**
   * dx = dout W^T (or dout E) is written; dW += x^T dout (or dE += dout^T x) and db += the sum over rows of dout
   * accumulate. dx [R,I], dW [I,O] (or dE [O,I]), db [O], dout [R,O], x [R,I]; work [R*I] is scratch space.
   */
  affineBackward(
    dx: Float32Array, dW: Float32Array, db: Float32Array, dout: Float32Array, x: Float32Array, W: Float32Array,
    work: Float32Array, transW: boolean, R: number, I: number, O: number,
  ): void;

  /**
   * The class-factored output layer's forward (TimeClassSoftmaxWithLoss) on h [R,H], described by `op` (see
   * ClassSoftmaxOp). Writes, when op.classes, zs [R,C] = h Wc + bc and zp = softmax(zs); then hg [count,H] (the
   * grouped rows of h) and probs: per class, one block [n_c, m_c] after the other, the softmax of hg W[:, class] +
   * b[class]. Returns the summed -log P(class) over the rows with a target (when op.classes) plus
   * -log P(word | class) over the grouped rows. The parts can run apart: the class part alone (empty groups), the
   * words of some classes alone (op.classes false; a parallel step splits them by class).
   */
  classSoftmaxForward(op: ClassSoftmaxOp, h: Float32Array): number;

  /**
   * Its backward for loss * scale: op.zp and op.probs become their gradients in place; with op.classes dh [R,H] is
   * written (the class part's gradient, then the words' added), without it the words' gradient is added to dh;
   * g.dW, g.db, g.dWc [H,C], g.dbc [C] accumulate; work [R*H] is scratch.
   */
  classSoftmaxBackward(op: ClassSoftmaxOp, h: Float32Array, dh: Float32Array, g: ClassSoftmaxGrads, work: Float32Array, scale: number): void;

  /**
   * The hierarchical softmax's forward (TimeTreeSoftmaxWithLoss) over a word tree with V leaves and V-1 internal
   * nodes: for every row r whose target t = ts[r] is not -1 and every entry k of t's path (start[t] <= k <
   * start[t+1], node[k] in [0, V-1), code[k] 0 or 1), s = h[r] . W[node[k]] + b[node[k]], the loss adds
   * -log sigmoid(code ? s : -s), and g[offsets[r] + k - start[t]] = sigmoid(s) - code (offsets[r+1] - offsets[r] is
   * the path's length, 0 for -1 targets). Returns the summed loss. h [R,H], W [V-1,H], b [V-1], ts [R],
   * offsets [R+1], start [V+1], node and code [start[V]]; g [offsets[R]].
   */
  treeSoftmaxForward(
    g: Float32Array, h: Float32Array, W: Float32Array, b: Float32Array, ts: Int32Array, offsets: Int32Array,
    start: Int32Array, node: Int32Array, code: Int32Array, R: number, H: number, V: number,
  ): number;

  /**
   * Its backward for loss * scale: dh [R,H] = sum over row r's path of scale g W[node] (written); dW[node] +=
   * scale g h[r] and db[node] += scale g (accumulate).
   */
  treeSoftmaxBackward(
    dh: Float32Array, dW: Float32Array, db: Float32Array, g: Float32Array, scale: number, h: Float32Array, W: Float32Array,
    ts: Int32Array, offsets: Int32Array, start: Int32Array, node: Int32Array, R: number, H: number, V: number,
  ): void;

  /** out [n,H]: row j = W[:, ids[j]] for W [H,V], or W[ids[j], :] for W stored [V,H] (transW); 0 <= ids[j] < V. */
  gatherWords(out: Float32Array, W: Float32Array, ids: Int32Array, transW: boolean, H: number, V: number, n: number): void;

  /** gatherWords' adjoint: dW[:, ids[j]] += src[j, :] (dW[ids[j], :] with transW); repeated ids add up. */
  scatterAddWords(dW: Float32Array, src: Float32Array, ids: Int32Array, transW: boolean, H: number, V: number, n: number): void;

  /**
   * ys = softmax(scores) row by row; returns the summed cross-entropy -log ys[r, ts[r]] over the rows whose
   * target is not -1 (those rows still get their probabilities). ys [R,V], scores [R,V], ts [R].
   * With gradScale, ys gets what softmaxCrossEntropyBackward would make of those probabilities with that scale,
   * (softmax - onehot(ts)) * gradScale (rows whose target is -1: 0), in the forward's own passes; ys may then
   * alias scores.
   */
  softmaxCrossEntropyForward(ys: Float32Array, scores: Float32Array, ts: Int32Array, R: number, V: number, gradScale?: number): number;

  /** dx = (ys - onehot(ts)) * scale; rows whose target is -1 get 0. dx may alias ys. dx, ys [R,V], ts [R]. */
  softmaxCrossEntropyBackward(dx: Float32Array, ys: Float32Array, ts: Int32Array, scale: number, R: number, V: number): void;

  /**
   * param -= lr * grad, element-wise over equal-length arrays; then grad = 0 when zeroGrad (the next backward's
   * explicit zeroing, done while grad is in cache instead of in a pass of its own).
   */
  sgdUpdate(param: Float32Array, grad: Float32Array, lr: number, zeroGrad?: boolean): void;

  /** The sum of squares of x, accumulated in double precision. */
  sumSquares(x: Float32Array): number;

  /** x = 0 (gradients before a backward: the native backend's memset beats filling a SharedArrayBuffer from JS). */
  zero(x: Float32Array): void;

  /**
   * y += x over equal-length arrays; returns the sum of squares of the new y in double precision (a gradient
   * block summed in and the global norm's sum in one pass); then x = 0 when zeroX (the block ready for the next
   * backward).
   */
  addSumSquares(y: Float32Array, x: Float32Array, zeroX?: boolean): number;

  /**
   * The passes of sumSquares, sgdUpdate and addSumSquares over rows rows[0..R) of x, y, param, grad [V,D] only:
   * a row-sparse gradient (the embedding's, whose backward writes only the rows of the batch's word ids). The rows
   * are distinct ids in [0, V).
   */
  sumSquaresRows(x: Float32Array, rows: Int32Array, R: number, V: number, D: number): number;
  sgdUpdateRows(param: Float32Array, grad: Float32Array, lr: number, rows: Int32Array, R: number, V: number, D: number, zeroGrad: boolean): void;
  addSumSquaresRows(y: Float32Array, x: Float32Array, rows: Int32Array, R: number, V: number, D: number, zeroX: boolean): number;

  /** x *= s. */
  scale(x: Float32Array, s: number): void;

  /** A new WordCounter that counts on up to `threads` threads (1 or 2). */
  wordCounter(threads: number): WordCounter;

  /**
   * ids[i] = table[ids[i]] in place for the `tokens` little-endian int32 ids of the open file `fd` from byte
   * `offset`; returns the new ids' checksum lanes (a token file's IdsChecksum). An id outside the table is a RangeError.
   */
  renumberFile(fd: number, offset: number, tokens: number, table: Int32Array): [number, number];
}
