// The model's arithmetic on plain pointers, after every argument has been checked (see addon.cc).
//
// Legend: N = batch size, T = time steps, D = word-vector size, H = hidden size, V = vocabulary size,
// R = rows (usually N*T), I/O = input/output features of an affine layer. All matrices are row-major float32.
// Outputs come first, sizes last. Nothing here allocates; scratch space is passed in.
#pragma once

#include <cstdint>

namespace rnnlm {

// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, op(A) [M,K], op(B) [K,N]. Handles empty sizes without
// calling BLAS (so null data pointers of empty arrays are never passed on).
void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);

// out [R,D] = W[ids[r], :]            W [V,D], ids [R] in [0, V)
void embedding_forward(float* out, const float* W, const int32_t* ids, int64_t R, int64_t D);

// dW[ids[r], :] += dout[r, :]   (accumulates)
void embedding_backward(float* dW, const float* dout, const int32_t* ids, int64_t R, int64_t D);

// hs [N,T,H] = tanh(h_{t-1} Wh + xs[:,t] Wx + b) for t = 0..T-1, h_{-1} = h0 [N,H].
// xs [N,T,D], Wx [D,H], Wh [H,H], b [H]. Two sgemm kinds: xs*Wx over all N*T rows at once, h*Wh per step.
void rnn_forward(float* hs, const float* xs, const float* h0, const float* Wx, const float* Wh, const float* b,
                 int N, int T, int D, int H);

// Truncated BPTT over the window. Writes dxs [N,T,D], dh0 [N,H]; accumulates dWx [D,H], dWh [H,H], db [H]; reads
// dhs [N,T,H], xs [N,T,D], hs [N,T,H], h0 [N,H], Wx [D,H], Wh [H,H]; work [2*N*T*H] scratch.
// Only dt*Wh^T runs step by step; dWx, dWh, db and dxs are single products over all N*T rows.
void rnn_backward(float* dxs, float* dWx, float* dWh, float* db, float* dh0, const float* dhs, const float* xs,
                  const float* hs, const float* h0, const float* Wx, const float* Wh, float* work,
                  int N, int T, int D, int H);

// out [R,O] = x [R,I] W [I,O] + b [O]; with transW, W is stored [O,I] and out = x W^T + b (tied weights).
void affine_forward(float* out, const float* x, const float* W, const float* b, bool transW, int R, int I, int O);

// dx [R,I] = dout W^T (or dout W when transW) is written; dW [I,O] += x^T dout (or dW [O,I] += dout^T x) and
// db [O] += sum_r dout[r,:] accumulate; work [R*I] scratch.
void affine_backward(float* dx, float* dW, float* db, const float* dout, const float* x, const float* W, float* work,
                     bool transW, int R, int I, int O);

// The class-factored output layer (see TimeClassSoftmaxWithLoss). Class c holds word ids bounds[c] .. bounds[c+1]-1;
// ct [R] is each row's target class (-1: no target); the rows whose words are wanted are grouped by class: rows
// order[groups[c]] .. order[groups[c+1]-1] have their target in class c. Forward writes, when `classes`, zs [R,C] =
// h Wc + bc and zp = softmax(zs); then hg [count,H] (the grouped rows of h) and probs (per class, [n_c, m_c]
// in-class softmax of hg W[:, class] + b[class], one block after the other); returns the summed -log P(class) (when
// `classes`) - log P(word | class) (over the grouped rows). The two parts can run apart: the class part of every
// row with no group (classes, groups empty), the words of some classes with no class part (a parallel step).
double class_softmax_forward(float* zs, float* zp, float* probs, float* hg, const float* h, const float* W,
                             const float* b, const float* Wc, const float* bc, const int32_t* bounds,
                             const int32_t* ct, const int32_t* order, const int32_t* groups, const int32_t* ts,
                             bool transW, int R, int H, int V, int C, bool classes);

// Its backward for loss * scale: zp and probs become their gradients in place; dh [R,H] is written when `classes`
// (else the words' part is added to it); dW, db, dWc, dbc accumulate; work [R*H] scratch. W is [H,V], or [V,H]
// with transW (tied).
void class_softmax_backward(float* dh, float* dW, float* db, float* dWc, float* dbc, float* work, float* zp,
                            float* probs, const float* hg, const float* h, const float* W, const float* Wc,
                            const int32_t* bounds, const int32_t* ct, const int32_t* order, const int32_t* groups,
                            const int32_t* ts, float scale, bool transW, int R, int H, int V, int C, bool classes);

// Words' output weights side by side: out [n,H] row j = W[:, ids[j]] (W [H,V]), or with transW W[ids[j], :] (W [V,H]).
// The hierarchical softmax (Backend.treeSoftmaxForward / treeSoftmaxBackward): for each row r with a target t
// (ts[r] != -1), each entry k of t's path [start[t], start[t+1]), node n = node[k]: s = h[r] . W[n] + b[n]; the
// loss adds -log sigmoid(code ? s : -s) and g[offsets[r] + k - start[t]] = sigmoid(s) - code. The backward writes
// dh [R,H] = sum of scale g W[n] over the path and adds scale g h[r] to dW[n], scale g to db[n]. The caller has
// checked every index. h [R,H], W and dW [V-1,H], b and db [V-1].
double tree_softmax_forward(float* g, const float* h, const float* W, const float* b, const int32_t* ts,
                            const int32_t* offsets, const int32_t* start, const int32_t* node, const int32_t* code,
                            int R, int H);
void tree_softmax_backward(float* dh, float* dW, float* db, const float* g, float scale, const float* h,
                           const float* W, const int32_t* ts, const int32_t* offsets, const int32_t* start,
                           const int32_t* node, int R, int H);

void gather_words(float* out, const float* W, const int32_t* ids, bool transW, int H, int V, int n);

// Its adjoint: dW[:, ids[j]] += src[j, :] (or dW[ids[j], :] with transW), repeated ids adding up.
void scatter_add_words(float* dW, const float* src, const int32_t* ids, bool transW, int H, int V, int n);

// LSTM, gates f, g, i, o: A = x Wx + h Wh + b; c = sig(f) c' + tanh(g) sig(i); h = sig(o) tanh(c).
// Writes hs [N,T,H], cs [N,T,H], gates [N,T,4H] (activations); reads xs [N,T,D], h0, c0 [N,H], Wx [D,4H],
// Wh [H,4H], b [4H].
void lstm_forward(float* hs, float* cs, float* gates, const float* xs, const float* h0, const float* c0,
                  const float* Wx, const float* Wh, const float* b, int N, int T, int D, int H);

// Writes dxs [N,T,D], dh0, dc0 [N,H]; accumulates dWx, dWh, db; work [5*N*T*H] scratch.
void lstm_backward(float* dxs, float* dWx, float* dWh, float* db, float* dh0, float* dc0, const float* dhs,
                   const float* xs, const float* hs, const float* cs, const float* gates, const float* h0,
                   const float* c0, const float* Wx, const float* Wh, float* work, int N, int T, int D, int H);

// GRU, gates z, r, n: z = sig(x Wx_z + h Wh_z + b_z), r likewise, n = tanh(x Wx_n + (r h) Wh_n + b_n),
// h' = (1 - z) h + z n. Writes hs [N,T,H], gates [N,T,3H] (activations), rh [N,T,H]; reads xs, h0, Wx [D,3H],
// Wh [H,3H], b [3H].
void gru_forward(float* hs, float* gates, float* rh, const float* xs, const float* h0, const float* Wx,
                 const float* Wh, const float* b, int N, int T, int D, int H);

// Writes dxs [N,T,D], dh0 [N,H]; accumulates dWx, dWh, db; work [4*N*T*H + N*H] scratch.
void gru_backward(float* dxs, float* dWx, float* dWh, float* db, float* dh0, const float* dhs, const float* xs,
                  const float* hs, const float* gates, const float* rh, const float* h0, const float* Wx,
                  const float* Wh, float* work, int N, int T, int D, int H);

// Inverted dropout: mask [N,T,U] = (hash(seed, iteration, site, row0 + n, t, u) >= p 2^32) / (1 - p),
// out = x * mask (out may alias x).
void dropout_forward(float* out, float* mask, const float* x, double p, uint32_t seed, uint32_t iteration,
                     uint32_t site, uint32_t row0, int64_t N, int64_t T, int64_t U);

// dx [R] = dout [R] * mask [R]
void dropout_backward(float* dx, const float* dout, const float* mask, int64_t R);

// ys [R,V] = softmax(scores) by rows; returns sum over rows with ts[r] != -1 of -log ys[r, ts[r]] (computed as
// log(sum) - (x_t - max), exact where ys underflows).
double softmax_xent_forward(float* ys, const float* scores, const int32_t* ts, int64_t R, int64_t V);

// dx [R,V] = (softmax(scores) - onehot(ts)) * scale, rows with ts[r] == -1 zero: the forward and the backward in
// the forward's own passes over each row, for a training step whose backward scale is known (one pass over
// [R,V] less). Returns what softmax_xent_forward returns. dx may alias scores.
double softmax_xent_forward_grad(float* dx, const float* scores, const int32_t* ts, float scale, int64_t R, int64_t V);

// dx [R,V] = (ys - onehot(ts)) * scale, rows with ts[r] == -1 zero. dx may alias ys.
void softmax_xent_backward(float* dx, const float* ys, const int32_t* ts, float scale, int64_t R, int64_t V);

// param -= lr * grad over n elements; then grad = 0 when zero_grad (the next backward's zeroing, done while grad is
// in cache).
void sgd_update(float* param, float* grad, float lr, int64_t n, bool zero_grad);

// sum of x[i]^2, accumulated in double
double sum_squares(const float* x, int64_t n);

// x = 0 (a memset: V8 fills a Float32Array over a SharedArrayBuffer element by element, about 3x slower).
void zero(float* x, int64_t n);

// y += x, returning the sum of squares of the new y (double precision); then x = 0 when zero_x.
double add_sum_squares(float* y, float* x, int64_t n, bool zero_x);
// The same three passes over rows rows[0..R) of D floats only (a row-sparse gradient: the embedding's).
double sum_squares_rows(const float* x, const int32_t* rows, int64_t R, int64_t D);
void sgd_update_rows(float* param, float* grad, float lr, const int32_t* rows, int64_t R, int64_t D, bool zero_grad);
double add_sum_squares_rows(float* y, float* x, const int32_t* rows, int64_t R, int64_t D, bool zero_x);

// x *= s
void scale(float* x, float s, int64_t n);

// The SIMD level the element-wise kernels were dispatched to: "avx512", "avx2" or "generic".
const char* simd_level();

// bfloat16 mixed precision, emulated: while on (per thread), sgemm and every op's products round their operands to
// bfloat16 (round to nearest even) and compute in float. cpu_has_avx512_bf16: whether the CPU could run it natively.
void set_bf16(bool on);
bool cpu_has_avx512_bf16();
void round_bf16(float* y, const float* x, int64_t n);

}  // namespace rnnlm
