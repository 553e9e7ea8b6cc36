// Kernels of the native backend. Matrix products go to OpenBLAS (cblas_sgemm); the element-wise work
// (softmax, exp, tanh, axpy, sums) is written once as plain loops and compiled three times, for AVX-512,
// AVX2+FMA and baseline x86-64, with the version picked at run time from the CPU (no -march=native).
#include "kernels.h"

#include <cblas.h>

#include <cmath>
#include <cstring>
#include <mutex>

namespace rnnlm {

// ---------------------------------------------------------------------------------------------------------------
// Element-wise loops. ALWAYS_INLINE bodies are inlined into each target-specific wrapper below, so the compiler
// vectorises them for that instruction set.
#define ALWAYS_INLINE inline __attribute__((always_inline))

namespace {

constexpr int kLanes = 16;  // independent accumulators: lets reductions vectorise without -ffast-math

// exp(x) for float32 (Cephes expf: range reduction by ln 2, degree-6 polynomial, 2^n from the exponent bits).
// About 1 ulp; NaN in gives NaN out; clamps to [-87.3, 88.3] so 2^n stays a normal float.
ALWAYS_INLINE float exp_f32(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  // n = round(x / ln 2) by the 1.5 * 2^23 trick (exact for |x / ln 2| < 2^22; vectorises on every target,
  // unlike floor, which needs SSE4.1).
  const float fx = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(fx) + 127) << 23;
  float pow2n;
  std::memcpy(&pow2n, &bits, sizeof pow2n);
  return y * pow2n;
}

// tanh(x): an odd polynomial near 0 (where 1 - e^{-2|x|} would cancel), else (1 - e^{-2|x|}) / (1 + e^{-2|x|}).
ALWAYS_INLINE float tanh_f32(float x) {
  const float a = std::fabs(x);
  const float t = exp_f32(-2.0f * a);
  const float big = (1.0f - t) / (1.0f + t);
  const float x2 = a * a;
  const float small = a * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * -0.053968254f)));
  const float r = a < 0.0625f ? small : big;
  return std::copysign(r, x);
}

ALWAYS_INLINE float max_body(const float* x, int64_t n) {
  float m[kLanes];
  for (int j = 0; j < kLanes; j++) m[j] = -INFINITY;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; j++) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
  }
  float r = -INFINITY;
  for (int j = 0; j < kLanes; j++) r = m[j] > r ? m[j] : r;
  for (; i < n; i++) r = x[i] > r ? x[i] : r;
  // The comparison skips NaNs; a NaN score still reaches the loss through exp(x - max) and the row sum.
  return r;
}

ALWAYS_INLINE float exp_sum_body(float* y, const float* x, float shift, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = exp_f32(x[i] - shift);
  float s[kLanes] = {0};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; j++) s[j] += y[i + j];
  }
  float r = 0;
  for (int j = 0; j < kLanes; j++) r += s[j];
  for (; i < n; i++) r += y[i];
  return r;
}

ALWAYS_INLINE void scale_body(float* y, const float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * a;
}

ALWAYS_INLINE void axpy_body(float* y, const float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

ALWAYS_INLINE void tanh_body(float* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = tanh_f32(x[i]);
}

// dt = (dh + carry) * (1 - h^2)
ALWAYS_INLINE void dtanh_body(float* dt, const float* dh, const float* carry, const float* h, int64_t n) {
  for (int64_t i = 0; i < n; i++) dt[i] = (dh[i] + carry[i]) * (1.0f - h[i] * h[i]);
}

ALWAYS_INLINE double sumsq_body(const float* x, int64_t n) {
  double s[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; j++) s[j] += static_cast<double>(x[i + j]) * x[i + j];
  }
  double r = 0;
  for (int j = 0; j < 8; j++) r += s[j];
  for (; i < n; i++) r += static_cast<double>(x[i]) * x[i];
  return r;
}

struct Simd {
  const char* name;
  float (*max)(const float*, int64_t);
  float (*exp_sum)(float*, const float*, float, int64_t);
  void (*scale)(float*, const float*, float, int64_t);
  void (*axpy)(float*, const float*, float, int64_t);
  void (*tanh)(float*, int64_t);
  void (*dtanh)(float*, const float*, const float*, const float*, int64_t);
  double (*sumsq)(const float*, int64_t);
};

#define DEFINE_SIMD(NS, TARGET, NAME)                                                                        \
  namespace NS {                                                                                             \
  TARGET float max(const float* x, int64_t n) { return max_body(x, n); }                                    \
  TARGET float exp_sum(float* y, const float* x, float s, int64_t n) { return exp_sum_body(y, x, s, n); }   \
  TARGET void scale(float* y, const float* x, float a, int64_t n) { scale_body(y, x, a, n); }               \
  TARGET void axpy(float* y, const float* x, float a, int64_t n) { axpy_body(y, x, a, n); }                 \
  TARGET void tanh(float* x, int64_t n) { tanh_body(x, n); }                                                \
  TARGET void dtanh(float* dt, const float* dh, const float* c, const float* h, int64_t n) {                \
    dtanh_body(dt, dh, c, h, n);                                                                             \
  }                                                                                                          \
  TARGET double sumsq(const float* x, int64_t n) { return sumsq_body(x, n); }                               \
  const Simd table = {NAME, max, exp_sum, scale, axpy, tanh, dtanh, sumsq};                                  \
  }

#if defined(__x86_64__)
DEFINE_SIMD(avx512, __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"))), "avx512")
DEFINE_SIMD(avx2, __attribute__((target("avx2,fma"))), "avx2")
#endif
DEFINE_SIMD(generic, , "generic")

const Simd* g_simd = nullptr;  // written once under std::call_once, read-only afterwards
std::once_flag g_simd_once;

const Simd& simd() {
  std::call_once(g_simd_once, [] {
    g_simd = &generic::table;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
      g_simd = &avx512::table;
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      g_simd = &avx2::table;
    }
#endif
  });
  return *g_simd;
}

}  // namespace

const char* simd_level() { return simd().name; }

// ---------------------------------------------------------------------------------------------------------------

void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
           int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.0f) {
    // C = beta * C; BLAS is not called with empty operands. beta == 0 must not read C (it may hold NaN).
    for (int i = 0; i < M; i++) {
      float* c = C + static_cast<int64_t>(i) * ldc;
      if (beta == 0.0f) std::memset(c, 0, sizeof(float) * N);
      else if (beta != 1.0f) simd().scale(c, c, beta, N);
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, alpha,
              A, lda, B, ldb, beta, C, ldc);
}

void embedding_forward(float* out, const float* W, const int32_t* ids, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) std::memcpy(out + r * D, W + ids[r] * D, sizeof(float) * D);
}

void embedding_backward(float* dW, const float* dout, const int32_t* ids, int64_t R, int64_t V, int64_t D) {
  if (V * D > 0) std::memset(dW, 0, sizeof(float) * V * D);
  for (int64_t r = 0; r < R; r++) simd().axpy(dW + ids[r] * D, dout + r * D, 1.0f, D);
}

void rnn_forward(float* hs, const float* xs, const float* h0, const float* Wx, const float* Wh, const float* b, int N,
                 int T, int D, int H) {
  const int64_t NT = static_cast<int64_t>(N) * T;
  const int TH = T * H;
  if (NT == 0 || H == 0) return;
  // hs = b (broadcast), then hs += xs Wx over all N*T rows in one product.
  for (int64_t r = 0; r < NT; r++) std::memcpy(hs + r * H, b, sizeof(float) * H);
  sgemm(false, false, static_cast<int>(NT), H, D, 1.0f, xs, D, Wx, H, 1.0f, hs, H);
  const Simd& s = simd();
  for (int t = 0; t < T; t++) {
    // hs[:,t] += h_{t-1} Wh; rows of hs[:,t] are T*H apart.
    float* ht = hs + static_cast<int64_t>(t) * H;
    if (t == 0) sgemm(false, false, N, H, H, 1.0f, h0, H, Wh, H, 1.0f, ht, TH);
    else sgemm(false, false, N, H, H, 1.0f, ht - H, TH, Wh, H, 1.0f, ht, TH);
    for (int n = 0; n < N; n++) s.tanh(ht + static_cast<int64_t>(n) * TH, H);
  }
}

void rnn_backward(float* dxs, float* dWx, float* dWh, float* db, float* dh0, const float* dhs, const float* xs,
                  const float* hs, const float* h0, const float* Wx, const float* Wh, float* work, int N, int T,
                  int D, int H) {
  const int64_t NT = static_cast<int64_t>(N) * T;
  const int64_t NTH = NT * H;
  const int TH = T * H;
  const Simd& s = simd();
  float* dt = work;           // d(pre-activation) [N,T,H]
  float* hprev = work + NTH;  // h_{t-1} for every (n,t) [N,T,H]
  // dh0 carries dh_t back from step t+1; zero at the window's end (truncated BPTT).
  if (static_cast<int64_t>(N) * H > 0) std::memset(dh0, 0, sizeof(float) * N * H);
  for (int t = T - 1; t >= 0; t--) {
    for (int n = 0; n < N; n++) {
      const int64_t o = static_cast<int64_t>(n) * TH + static_cast<int64_t>(t) * H;
      s.dtanh(dt + o, dhs + o, dh0 + static_cast<int64_t>(n) * H, hs + o, H);
    }
    sgemm(false, true, N, H, H, 1.0f, dt + static_cast<int64_t>(t) * H, TH, Wh, H, 0.0f, dh0, H);
  }
  for (int n = 0; n < N; n++) {
    float* hp = hprev + static_cast<int64_t>(n) * TH;
    if (H > 0) std::memcpy(hp, h0 + static_cast<int64_t>(n) * H, sizeof(float) * H);
    if (T > 1) std::memcpy(hp + H, hs + static_cast<int64_t>(n) * TH, sizeof(float) * (T - 1) * H);
  }
  const int nt = static_cast<int>(NT);
  sgemm(true, false, D, H, nt, 1.0f, xs, D, dt, H, 0.0f, dWx, H);
  sgemm(true, false, H, H, nt, 1.0f, hprev, H, dt, H, 0.0f, dWh, H);
  if (H > 0) std::memset(db, 0, sizeof(float) * H);
  for (int64_t r = 0; r < NT; r++) s.axpy(db, dt + r * H, 1.0f, H);
  sgemm(false, true, nt, D, H, 1.0f, dt, H, Wx, H, 0.0f, dxs, D);
}

void affine_forward(float* out, const float* x, const float* W, const float* b, int R, int I, int O) {
  for (int64_t r = 0; r < R; r++) std::memcpy(out + r * O, b, sizeof(float) * O);
  sgemm(false, false, R, O, I, 1.0f, x, I, W, O, 1.0f, out, O);
}

void affine_backward(float* dx, float* dW, float* db, const float* dout, const float* x, const float* W, float* work,
                     int R, int I, int O) {
  // dx^T [I,R] = W dout^T, then transposed into dx: OpenBLAS runs this shape ~15% faster than dout W^T when
  // O >> I (the vocabulary against the hidden size), and the transpose is only R*I elements.
  if (O > 0) {
    // db = dout^T 1 as a matrix-vector product (OpenBLAS threads it), with work holding the ones.
    if (R > 0 && I > 0) {
      for (int64_t r = 0; r < R; r++) work[r] = 1.0f;
      cblas_sgemv(CblasRowMajor, CblasTrans, R, O, 1.0f, dout, O, work, 1, 0.0f, db, 1);
    } else {
      std::memset(db, 0, sizeof(float) * O);
      const Simd& s = simd();
      for (int64_t r = 0; r < R; r++) s.axpy(db, dout + r * O, 1.0f, O);
    }
  }
  sgemm(false, true, I, R, O, 1.0f, W, O, dout, O, 0.0f, work, R);
  for (int64_t r = 0; r < R; r++) {
    for (int64_t i = 0; i < I; i++) dx[r * I + i] = work[i * R + r];
  }
  sgemm(true, false, I, O, R, 1.0f, x, I, dout, O, 0.0f, dW, O);
}

double softmax_xent_forward(float* ys, const float* scores, const int32_t* ts, int64_t R, int64_t V) {
  const Simd& s = simd();
  double loss = 0;
  for (int64_t r = 0; r < R; r++) {
    const float* x = scores + r * V;
    float* y = ys + r * V;
    const float m = s.max(x, V);
    const float sum = s.exp_sum(y, x, m, V);
    s.scale(y, y, 1.0f / sum, V);
    const int32_t t = ts[r];
    if (t != -1) loss += std::log(static_cast<double>(sum)) - (static_cast<double>(x[t]) - m);
  }
  return loss;
}

void softmax_xent_backward(float* dx, const float* ys, const int32_t* ts, float scale_, int64_t R, int64_t V) {
  const Simd& s = simd();
  for (int64_t r = 0; r < R; r++) {
    const int32_t t = ts[r];
    float* d = dx + r * V;
    if (t == -1) {
      std::memset(d, 0, sizeof(float) * V);
      continue;
    }
    const float yt = ys[r * V + t];  // read before writing: dx may alias ys
    s.scale(d, ys + r * V, scale_, V);
    d[t] = (yt - 1.0f) * scale_;
  }
}

void sgd_update(float* param, const float* grad, float lr, int64_t n) { simd().axpy(param, grad, -lr, n); }

double sum_squares(const float* x, int64_t n) { return simd().sumsq(x, n); }

void scale(float* x, float s, int64_t n) { simd().scale(x, x, s, n); }

}  // namespace rnnlm
