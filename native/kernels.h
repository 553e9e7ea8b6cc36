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

// dW [V,D] = 0, then dW[ids[r], :] += dout[r, :]
void embedding_backward(float* dW, const float* dout, const int32_t* ids, int64_t R, int64_t V, int64_t D);

// hs [N,T,H] = tanh(h_{t-1} Wh + xs[:,t] Wx + b) for t = 0..T-1, h_{-1} = h0 [N,H].
// xs [N,T,D], Wx [D,H], Wh [H,H], b [H]. Two sgemm kinds: xs*Wx over all N*T rows at once, h*Wh per step.
void rnn_forward(float* hs, const float* xs, const float* h0, const float* Wx, const float* Wh, const float* b,
                 int N, int T, int D, int H);

// Truncated BPTT over the window. Writes dxs [N,T,D], dWx [D,H], dWh [H,H], db [H], dh0 [N,H]; reads
// dhs [N,T,H], xs [N,T,D], hs [N,T,H], h0 [N,H], Wx [D,H], Wh [H,H]; work [2*N*T*H] scratch.
// Only dt*Wh^T runs step by step; dWx, dWh, db and dxs are single products over all N*T rows.
void rnn_backward(float* dxs, float* dWx, float* dWh, float* db, float* dh0, const float* dhs, const float* xs,
                  const float* hs, const float* h0, const float* Wx, const float* Wh, float* work,
                  int N, int T, int D, int H);

// out [R,O] = x [R,I] W [I,O] + b [O]
void affine_forward(float* out, const float* x, const float* W, const float* b, int R, int I, int O);

// dx [R,I] = dout W^T, dW [I,O] = x^T dout, db [O] = sum_r dout[r,:]; work [I*R] scratch.
void affine_backward(float* dx, float* dW, float* db, const float* dout, const float* x, const float* W, float* work,
                     int R, int I, int O);

// ys [R,V] = softmax(scores) by rows; returns sum over rows with ts[r] != -1 of -log ys[r, ts[r]] (computed as
// log(sum) - (x_t - max), exact where ys underflows).
double softmax_xent_forward(float* ys, const float* scores, const int32_t* ts, int64_t R, int64_t V);

// dx [R,V] = (ys - onehot(ts)) * scale, rows with ts[r] == -1 zero. dx may alias ys.
void softmax_xent_backward(float* dx, const float* ys, const int32_t* ts, float scale, int64_t R, int64_t V);

// param -= lr * grad over n elements
void sgd_update(float* param, const float* grad, float lr, int64_t n);

// sum of x[i]^2, accumulated in double
double sum_squares(const float* x, int64_t n);

// x *= s
void scale(float* x, float s, int64_t n);

// The SIMD level the element-wise kernels were dispatched to: "avx512", "avx2" or "generic".
const char* simd_level();

}  // namespace rnnlm
