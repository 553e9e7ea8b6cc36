// Kernels of the native backend. Matrix products go to OpenBLAS (cblas_sgemm); the element-wise work
// (softmax, exp, tanh, axpy, sums) is written once as plain loops and compiled three times, for AVX-512,
// AVX2+FMA and baseline x86-64, with the version picked at run time from the CPU (no -march=native).
#include "kernels.h"

#include "dnnl_gemm.h"

#include <cblas.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace rnnlm {

// ---------------------------------------------------------------------------------------------------------------
// Element-wise loops. ALWAYS_INLINE bodies are inlined into each target-specific wrapper below, so the compiler
// vectorises them for that instruction set.
#define ALWAYS_INLINE inline __attribute__((always_inline))

namespace {

// Reductions keep kLanes (float) or 8 (double) independent accumulators, added up in lane order at the end: the same
// numbers on every target. They are written with GCC vector types because the vectoriser does not turn an array of
// scalar accumulators into vector registers (it emitted 16 scalar vmaxss per 16 elements); on AVX-512 a vf16 is one
// register, on AVX2 and SSE it is split into two or four.
constexpr int kLanes = 16;
typedef float vf16 __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
typedef double vd8 __attribute__((vector_size(64)));
// Unaligned loads (by reference: a vector return value would change the ABI of a function built without AVX).
ALWAYS_INLINE void load(vf16& v, const float* p) { std::memcpy(&v, p, sizeof v); }
ALWAYS_INLINE void load(vf8& v, const float* p) { std::memcpy(&v, p, sizeof v); }

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

ALWAYS_INLINE float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

// LSTM step, one row: a [4H] pre-activations (f, g, i, o) become activations in place; c = f*cp + g*i, h = o*tanh(c).
ALWAYS_INLINE void lstm_step_body(float* a, float* h, float* c, const float* cp, int64_t H) {
  float* af = a;
  float* ag = a + H;
  float* ai = a + 2 * H;
  float* ao = a + 3 * H;
  // Element j reads and writes only element j of each row (the rows are distinct buffers): vectorise.
#pragma GCC ivdep
  for (int64_t j = 0; j < H; j++) {
    const float f = sigmoid_f32(af[j]), g = tanh_f32(ag[j]), i = sigmoid_f32(ai[j]), o = sigmoid_f32(ao[j]);
    af[j] = f;
    ag[j] = g;
    ai[j] = i;
    ao[j] = o;
    const float cn = f * cp[j] + g * i;
    c[j] = cn;
    h[j] = o * tanh_f32(cn);
  }
}

// LSTM backward step, one row: from the activations a [4H], c, cp and the carried dh, dc (in: from step t+1, out:
// dc for step t-1), writes dA [4H]. dh_in = dhs + dh carry.
ALWAYS_INLINE void lstm_back_body(float* dA, float* dc, const float* dhs, const float* dhc, const float* a,
                                  const float* c, const float* cp, int64_t H) {
  const float* af = a;
  const float* ag = a + H;
  const float* ai = a + 2 * H;
  const float* ao = a + 3 * H;
  // Element j reads and writes only element j of each row (the rows are distinct buffers): vectorise.
#pragma GCC ivdep
  for (int64_t j = 0; j < H; j++) {
    const float f = af[j], g = ag[j], i = ai[j], o = ao[j];
    const float tc = tanh_f32(c[j]);
    const float dh = dhs[j] + dhc[j];
    const float ds = dc[j] + dh * o * (1.0f - tc * tc);
    dA[j] = ds * cp[j] * f * (1.0f - f);
    dA[H + j] = ds * i * (1.0f - g * g);
    dA[2 * H + j] = ds * g * i * (1.0f - i);
    dA[3 * H + j] = dh * tc * o * (1.0f - o);
    dc[j] = ds * f;
  }
}

// GRU step part 1, one row: a[0:2H] (z, r pre-activations) become activations; rh = r * hp.
ALWAYS_INLINE void gru_zr_body(float* a, float* rh, const float* hp, int64_t H) {
  // Element j reads and writes only element j of each row (the rows are distinct buffers): vectorise.
#pragma GCC ivdep
  for (int64_t j = 0; j < H; j++) {
    const float z = sigmoid_f32(a[j]), r = sigmoid_f32(a[H + j]);
    a[j] = z;
    a[H + j] = r;
    rh[j] = r * hp[j];
  }
}

// GRU step part 2: n = tanh(a[2H:3H]) in place, h = hp + z (n - hp).
ALWAYS_INLINE void gru_n_body(float* a, float* h, const float* hp, int64_t H) {
  // Element j reads and writes only element j of each row (the rows are distinct buffers): vectorise.
#pragma GCC ivdep
  for (int64_t j = 0; j < H; j++) {
    const float n = tanh_f32(a[2 * H + j]);
    a[2 * H + j] = n;
    h[j] = hp[j] + a[j] * (n - hp[j]);
  }
}

// GRU backward part 1: dh = dhs + carry; dA_z, dA_n; carry = dh (1 - z).
ALWAYS_INLINE void gru_back1_body(float* dA, float* carry, const float* dhs, const float* a, const float* hp, int64_t H) {
  // Element j reads and writes only element j of each row (the rows are distinct buffers): vectorise.
#pragma GCC ivdep
  for (int64_t j = 0; j < H; j++) {
    const float z = a[j], n = a[2 * H + j];
    const float dh = dhs[j] + carry[j];
    dA[j] = dh * (n - hp[j]) * z * (1.0f - z);
    dA[2 * H + j] = dh * z * (1.0f - n * n);
    carry[j] = dh * (1.0f - z);
  }
}

// GRU backward part 2: dA_r = drh hp r (1 - r); carry += drh r.
ALWAYS_INLINE void gru_back2_body(float* dA, float* carry, const float* drh, const float* a, const float* hp, int64_t H) {
  // Element j reads and writes only element j of each row (the rows are distinct buffers): vectorise.
#pragma GCC ivdep
  for (int64_t j = 0; j < H; j++) {
    const float r = a[H + j];
    dA[H + j] = drh[j] * hp[j] * r * (1.0f - r);
    carry[j] += drh[j] * r;
  }
}

ALWAYS_INLINE void mul_body(float* y, const float* a, const float* b, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

ALWAYS_INLINE float max_body(const float* x, int64_t n) {
  vf16 m = vf16{} - INFINITY;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    vf16 v;
    load(v, x + i);
    m = v > m ? v : m;
  }
  float r = -INFINITY;
  for (int j = 0; j < kLanes; j++) r = m[j] > r ? m[j] : r;
  for (; i < n; i++) r = x[i] > r ? x[i] : r;
  // The comparison skips NaNs; a NaN score still reaches the loss through exp(x - max) and the row sum.
  return r;
}

ALWAYS_INLINE float exp_sum_body(float* y, const float* x, float shift, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = exp_f32(x[i] - shift);
  vf16 s = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    vf16 v;
    load(v, y + i);
    s += v;
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
  vd8 s = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    vf8 f;
    load(f, x + i);
    const vd8 v = __builtin_convertvector(f, vd8);
    s += v * v;
  }
  double r = 0;
  for (int j = 0; j < 8; j++) r += s[j];
  for (; i < n; i++) r += static_cast<double>(x[i]) * x[i];
  return r;
}

// y += x, and the sum of squares of the new y in double precision (a gradient block summed in, with its norm).
ALWAYS_INLINE double add_sumsq_body(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += x[i];
  return sumsq_body(y, n);
}

// One (row, time) vector of inverted dropout: unit u is kept when mix(base, u) >= threshold (as an integer: the
// hash is uniform on [0, 2^32)), kept units scaled by `scale`.
ALWAYS_INLINE void dropout_row_body(float* out, float* mask, const float* x, uint32_t base, uint32_t threshold, float scale,
                                    int64_t U) {
  for (int64_t u = 0; u < U; u++) {
    uint32_t h = base ^ (static_cast<uint32_t>(u) * 0x9e3779b9u);
    h = (h ^ (h >> 16)) * 0x85ebca6bu;
    h = (h ^ (h >> 13)) * 0xc2b2ae35u;
    h ^= h >> 16;
    const float m = h >= threshold ? scale : 0.0f;
    mask[u] = m;
    out[u] = x[u] * m;
  }
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
  double (*add_sumsq)(float*, const float*, int64_t);
  void (*lstm_step)(float*, float*, float*, const float*, int64_t);
  void (*lstm_back)(float*, float*, const float*, const float*, const float*, const float*, const float*, int64_t);
  void (*gru_zr)(float*, float*, const float*, int64_t);
  void (*gru_n)(float*, float*, const float*, int64_t);
  void (*gru_back1)(float*, float*, const float*, const float*, const float*, int64_t);
  void (*gru_back2)(float*, float*, const float*, const float*, const float*, int64_t);
  void (*mul)(float*, const float*, const float*, int64_t);
  void (*dropout_row)(float*, float*, const float*, uint32_t, uint32_t, float, int64_t);
};

#define DEFINE_SIMD(NS, TARGET, NAME, EXP_SUM)                                                                      \
  namespace NS {                                                                                             \
  TARGET float max(const float* x, int64_t n) { return max_body(x, n); }                                    \
  [[maybe_unused]] TARGET float exp_sum(float* y, const float* x, float s, int64_t n) {                     \
    return exp_sum_body(y, x, s, n);                                                                         \
  }                                                                                                          \
  TARGET void scale(float* y, const float* x, float a, int64_t n) { scale_body(y, x, a, n); }               \
  TARGET void axpy(float* y, const float* x, float a, int64_t n) { axpy_body(y, x, a, n); }                 \
  TARGET void tanh(float* x, int64_t n) { tanh_body(x, n); }                                                \
  TARGET void dtanh(float* dt, const float* dh, const float* c, const float* h, int64_t n) {                \
    dtanh_body(dt, dh, c, h, n);                                                                             \
  }                                                                                                          \
  TARGET double sumsq(const float* x, int64_t n) { return sumsq_body(x, n); }                               \
  TARGET double add_sumsq(float* y, const float* x, int64_t n) { return add_sumsq_body(y, x, n); }          \
  TARGET void lstm_step(float* a, float* h, float* c, const float* cp, int64_t H) {                          \
    lstm_step_body(a, h, c, cp, H);                                                                          \
  }                                                                                                          \
  TARGET void lstm_back(float* dA, float* dc, const float* dhs, const float* dhc, const float* a,           \
                        const float* c, const float* cp, int64_t H) {                                        \
    lstm_back_body(dA, dc, dhs, dhc, a, c, cp, H);                                                           \
  }                                                                                                          \
  TARGET void gru_zr(float* a, float* rh, const float* hp, int64_t H) { gru_zr_body(a, rh, hp, H); }        \
  TARGET void gru_n(float* a, float* h, const float* hp, int64_t H) { gru_n_body(a, h, hp, H); }            \
  TARGET void gru_back1(float* dA, float* c, const float* dhs, const float* a, const float* hp, int64_t H) { \
    gru_back1_body(dA, c, dhs, a, hp, H);                                                                    \
  }                                                                                                          \
  TARGET void gru_back2(float* dA, float* c, const float* drh, const float* a, const float* hp, int64_t H) { \
    gru_back2_body(dA, c, drh, a, hp, H);                                                                    \
  }                                                                                                          \
  TARGET void mul(float* y, const float* a, const float* b, int64_t n) { mul_body(y, a, b, n); }            \
  TARGET void dropout_row(float* out, float* mask, const float* x, uint32_t base, uint32_t threshold, float scale, \
                          int64_t U) {                                                                       \
    dropout_row_body(out, mask, x, base, threshold, scale, U);                                               \
  }                                                                                                          \
  const Simd table = {NAME, max, EXP_SUM, scale, axpy, tanh, dtanh, sumsq, add_sumsq,                                   \
                      lstm_step, lstm_back, gru_zr, gru_n, gru_back1, gru_back2, mul, dropout_row};          \
  }

#if defined(__x86_64__)
#define AVX512_TARGET __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))

// The softmax's exponentials (most of its time; 3.5 M per B-sized slice) in AVX-512 instructions: exp_f32's
// clamps, reduction and polynomial, with n rounded by vrndscaleps and 2^n applied by vscalefps, and the row sum in
// the same pass, in the same order as exp_sum_body: 16 lane sums, added in lane order, then the tail. 0.41 -> 0.24 ns
// per element.
// GCC 12's headers build vrndscaleps and vscalefps on _mm512_undefined_ps, which -Wmaybe-uninitialized flags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
AVX512_TARGET ALWAYS_INLINE __m512 exp_avx512(__m512 x) {
  // exp_f32's clamps (an infinite x would give inf - inf = NaN in the reduction); max/min(c, x) return x when it is NaN.
  x = _mm512_min_ps(_mm512_set1_ps(88.3f), _mm512_max_ps(_mm512_set1_ps(-87.3f), x));
  const __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fmadd_ps(fx, _mm512_set1_ps(2.12194440e-4f), r);
  const __m512 z = _mm512_mul_ps(r, r);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, z, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(y, fx);
}

AVX512_TARGET float exp_sum_avx512(float* y, const float* x, float shift, int64_t n) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
    _mm512_storeu_ps(y + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  float lanes[kLanes];
  _mm512_storeu_ps(lanes, acc);
  float r = 0;
  for (int j = 0; j < kLanes; j++) r += lanes[j];
  if (i < n) {
    const __mmask16 k = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, k, exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), s)));
    for (; i < n; i++) r += y[i];
  }
  return r;
}
#pragma GCC diagnostic pop

DEFINE_SIMD(avx512, AVX512_TARGET, "avx512", exp_sum_avx512)
DEFINE_SIMD(avx2, __attribute__((target("avx2,fma"))), "avx2", exp_sum)
#endif
DEFINE_SIMD(generic, , "generic", exp_sum)

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
// Products with few rows (M <= kSmallRows): the recurrent step h_{t-1} Wh (M = batch rows of one worker) and its
// backward dA Wh^T. OpenBLAS packs all of Wh for every such call and runs them at a fraction of its peak (about
// 30-60 GFLOP/s for M = 10..20 on one core); these register-blocked AVX-512 kernels read Wh straight from cache.
// C = alpha * A op(B) + beta * C with A [M,K] row-major (not transposed), alpha 1 and beta 0 or 1 only.

constexpr int kSmallRows = 32;
constexpr int kPrefetchRows = 12;

#if defined(__x86_64__)
// GCC 12's _mm512_reduce_add_ps starts from _mm512_undefined_ps, which -Wuninitialized reports inside its header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define AVX512_TARGET __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))

// The accumulators are named variables, not arrays: GCC keeps arrays of __m512 in memory and stores them on every
// iteration. `if constexpr` drops the rows a tile does not have.

// C[MI rows, 32 columns] (+)= A[MI,K] B[K, 0:32] with B row-major (row stride ldb); columns past nj are masked.
template <int MI>
AVX512_TARGET static void small_nn_tile(int K, const float* A, int lda, const float* B, int ldb, bool beta1, float* C,
                                        int ldc, int nj) {
  static_assert(MI >= 1 && MI <= 12, "1 to 12 rows");
  const __mmask16 m0 = nj >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << nj) - 1);
  const __mmask16 m1 = nj >= 32 ? static_cast<__mmask16>(0xFFFF)
                                : (nj > 16 ? static_cast<__mmask16>((1u << (nj - 16)) - 1) : static_cast<__mmask16>(0));
  const __m512 z = _mm512_setzero_ps();
  __m512 c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
  __m512 c40 = z, c41 = z, c50 = z, c51 = z, c60 = z, c61 = z, c70 = z, c71 = z;
  __m512 c80 = z, c81 = z, c90 = z, c91 = z, c100 = z, c101 = z, c110 = z, c111 = z;
  const float* a0 = A;
  const float* a1 = MI > 1 ? A + lda : A;
  const float* a2 = MI > 2 ? A + 2 * static_cast<int64_t>(lda) : A;
  const float* a3 = MI > 3 ? A + 3 * static_cast<int64_t>(lda) : A;
  const float* a4 = MI > 4 ? A + 4 * static_cast<int64_t>(lda) : A;
  const float* a5 = MI > 5 ? A + 5 * static_cast<int64_t>(lda) : A;
  const float* a6 = MI > 6 ? A + 6 * static_cast<int64_t>(lda) : A;
  const float* a7 = MI > 7 ? A + 7 * static_cast<int64_t>(lda) : A;
  const float* a8 = MI > 8 ? A + 8 * static_cast<int64_t>(lda) : A;
  const float* a9 = MI > 9 ? A + 9 * static_cast<int64_t>(lda) : A;
  const float* a10 = MI > 10 ? A + 10 * static_cast<int64_t>(lda) : A;
  const float* a11 = MI > 11 ? A + 11 * static_cast<int64_t>(lda) : A;
  // B's rows are walked down a 32-column strip. The L1 stride prefetcher follows strides under 2 KB only; past
  // that (Wh of 200 hidden units: 3200 bytes) every row would wait on L2, so the rows kPrefetchRows ahead are asked
  // for here (about 8% of an iteration of the 2-layer LSTM 200 with class output on 2 workers).
  const bool prefetch = static_cast<int64_t>(ldb) * sizeof(float) >= 2048;
  for (int k = 0; k < K; k++) {
    const float* b = B + static_cast<int64_t>(k) * ldb;
    if (prefetch && k + kPrefetchRows < K) {
      const char* ahead = reinterpret_cast<const char*>(b + kPrefetchRows * static_cast<int64_t>(ldb));
      _mm_prefetch(ahead, _MM_HINT_T0);
      _mm_prefetch(ahead + 64, _MM_HINT_T0);
    }
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + 16);
#define RNNLM_NN_ROW(i)                                  \
  if constexpr (MI > i) {                                \
    const __m512 a = _mm512_set1_ps(a##i[k]);            \
    c##i##0 = _mm512_fmadd_ps(a, b0, c##i##0);           \
    c##i##1 = _mm512_fmadd_ps(a, b1, c##i##1);           \
  }
    RNNLM_NN_ROW(0) RNNLM_NN_ROW(1) RNNLM_NN_ROW(2) RNNLM_NN_ROW(3)
    RNNLM_NN_ROW(4) RNNLM_NN_ROW(5) RNNLM_NN_ROW(6) RNNLM_NN_ROW(7)
    RNNLM_NN_ROW(8) RNNLM_NN_ROW(9) RNNLM_NN_ROW(10) RNNLM_NN_ROW(11)
#undef RNNLM_NN_ROW
  }
#define RNNLM_NN_STORE(i)                                                             \
  if constexpr (MI > i) {                                                             \
    float* c = C + i * static_cast<int64_t>(ldc);                                     \
    if (beta1) {                                                                      \
      c##i##0 = _mm512_add_ps(c##i##0, _mm512_maskz_loadu_ps(m0, c));                 \
      c##i##1 = _mm512_add_ps(c##i##1, _mm512_maskz_loadu_ps(m1, c + 16));            \
    }                                                                                 \
    _mm512_mask_storeu_ps(c, m0, c##i##0);                                            \
    _mm512_mask_storeu_ps(c + 16, m1, c##i##1);                                       \
  }
  RNNLM_NN_STORE(0) RNNLM_NN_STORE(1) RNNLM_NN_STORE(2) RNNLM_NN_STORE(3)
  RNNLM_NN_STORE(4) RNNLM_NN_STORE(5) RNNLM_NN_STORE(6) RNNLM_NN_STORE(7)
  RNNLM_NN_STORE(8) RNNLM_NN_STORE(9) RNNLM_NN_STORE(10) RNNLM_NN_STORE(11)
#undef RNNLM_NN_STORE
}

// C[MI rows, NJ columns] (+)= A[MI,K] B[0:NJ, K]^T with B row-major [N,K] (row stride ldb): dot products, 16 lanes
// at a time, reduced at the end.
template <int MI, int NJ>
AVX512_TARGET static void small_nt_tile(int K, const float* A, int lda, const float* B, int ldb, bool beta1, float* C,
                                        int ldc) {
  static_assert(MI >= 1 && MI <= 4 && NJ >= 1 && NJ <= 4, "up to 4 x 4");
  const __m512 z = _mm512_setzero_ps();
  __m512 c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z;
  __m512 c20 = z, c21 = z, c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z;
  const float* a0 = A;
  const float* a1 = MI > 1 ? A + lda : A;
  const float* a2 = MI > 2 ? A + 2 * static_cast<int64_t>(lda) : A;
  const float* a3 = MI > 3 ? A + 3 * static_cast<int64_t>(lda) : A;
  const float* r0 = B;
  const float* r1 = NJ > 1 ? B + ldb : B;
  const float* r2 = NJ > 2 ? B + 2 * static_cast<int64_t>(ldb) : B;
  const float* r3 = NJ > 3 ? B + 3 * static_cast<int64_t>(ldb) : B;
  for (int k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (K - k)) - 1);
    const __m512 b0 = _mm512_maskz_loadu_ps(m, r0 + k);
    const __m512 b1 = NJ > 1 ? _mm512_maskz_loadu_ps(m, r1 + k) : z;
    const __m512 b2 = NJ > 2 ? _mm512_maskz_loadu_ps(m, r2 + k) : z;
    const __m512 b3 = NJ > 3 ? _mm512_maskz_loadu_ps(m, r3 + k) : z;
#define RNNLM_NT_ROW(i)                                                   \
  if constexpr (MI > i) {                                                 \
    const __m512 a = _mm512_maskz_loadu_ps(m, a##i + k);                  \
    c##i##0 = _mm512_fmadd_ps(a, b0, c##i##0);                            \
    if constexpr (NJ > 1) c##i##1 = _mm512_fmadd_ps(a, b1, c##i##1);      \
    if constexpr (NJ > 2) c##i##2 = _mm512_fmadd_ps(a, b2, c##i##2);      \
    if constexpr (NJ > 3) c##i##3 = _mm512_fmadd_ps(a, b3, c##i##3);      \
  }
    RNNLM_NT_ROW(0) RNNLM_NT_ROW(1) RNNLM_NT_ROW(2) RNNLM_NT_ROW(3)
#undef RNNLM_NT_ROW
  }
#define RNNLM_NT_STORE(i, j)                                                          \
  if constexpr (MI > i && NJ > j) {                                                   \
    float* c = C + i * static_cast<int64_t>(ldc) + j;                                 \
    *c = _mm512_reduce_add_ps(c##i##j) + (beta1 ? *c : 0.0f);                         \
  }
  RNNLM_NT_STORE(0, 0) RNNLM_NT_STORE(0, 1) RNNLM_NT_STORE(0, 2) RNNLM_NT_STORE(0, 3)
  RNNLM_NT_STORE(1, 0) RNNLM_NT_STORE(1, 1) RNNLM_NT_STORE(1, 2) RNNLM_NT_STORE(1, 3)
  RNNLM_NT_STORE(2, 0) RNNLM_NT_STORE(2, 1) RNNLM_NT_STORE(2, 2) RNNLM_NT_STORE(2, 3)
  RNNLM_NT_STORE(3, 0) RNNLM_NT_STORE(3, 1) RNNLM_NT_STORE(3, 2) RNNLM_NT_STORE(3, 3)
#undef RNNLM_NT_STORE
}

constexpr int kNnRows = 12;  // 2 x 12 accumulators + 2 B vectors + 1 broadcast (of 32 registers)
constexpr int kNtRows = 4;  // 4 x 4 accumulators + 4 B vectors + 1 A vector

template <int MI>
AVX512_TARGET static void small_nn_rows(int N, int K, const float* A, int lda, const float* B, int ldb, bool beta1,
                                        float* C, int ldc) {
  for (int j0 = 0; j0 < N; j0 += 32) {
    small_nn_tile<MI>(K, A, lda, B + j0, ldb, beta1, C + j0, ldc, N - j0 < 32 ? N - j0 : 32);
  }
}

template <int MI>
AVX512_TARGET static void small_nt_rows(int N, int K, const float* A, int lda, const float* B, int ldb, bool beta1,
                                        float* C, int ldc) {
  int j0 = 0;
  for (; j0 + 4 <= N; j0 += 4) small_nt_tile<MI, 4>(K, A, lda, B + static_cast<int64_t>(j0) * ldb, ldb, beta1, C + j0, ldc);
  for (; j0 < N; j0++) small_nt_tile<MI, 1>(K, A, lda, B + static_cast<int64_t>(j0) * ldb, ldb, beta1, C + j0, ldc);
}

AVX512_TARGET static void small_gemm_avx512(bool transB, int M, int N, int K, const float* A, int lda, const float* B,
                                            int ldb, bool beta1, float* C, int ldc) {
  // Row tiles as even as they can be (10 rows: one tile of 10, not 8 + 2): every tile reads all of B once.
  const int most = transB ? kNtRows : kNnRows, tiles = (M + most - 1) / most;
  const int step = (M + tiles - 1) / tiles;
  for (int i0 = 0; i0 < M; i0 += step) {
    const int mi = M - i0 < step ? M - i0 : step;
    const float* a = A + static_cast<int64_t>(i0) * lda;
    float* c = C + static_cast<int64_t>(i0) * ldc;
    if (transB) {
      switch (mi) {
        case 1: small_nt_rows<1>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 2: small_nt_rows<2>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 3: small_nt_rows<3>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        default: small_nt_rows<4>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
      }
    } else {
      switch (mi) {
        case 1: small_nn_rows<1>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 2: small_nn_rows<2>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 3: small_nn_rows<3>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 4: small_nn_rows<4>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 5: small_nn_rows<5>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 6: small_nn_rows<6>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 7: small_nn_rows<7>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 8: small_nn_rows<8>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 9: small_nn_rows<9>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 10: small_nn_rows<10>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        case 11: small_nn_rows<11>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
        default: small_nn_rows<12>(N, K, a, lda, B, ldb, beta1, c, ldc); break;
      }
    }
  }
}
// out [cols, rows] = W [rows, cols]^T (row stride ld): 16 x 16 blocks transposed in registers (unpack, then two
// rounds of 128-bit lane shuffles), the edges element by element. Moves floats only: the same result as a loop.
AVX512_TARGET static inline void transpose16(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, ra, rb, rc, rd, re, rf;
  __m512 t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, ta, tb, tc, td, te, tf;
  r0 = _mm512_loadu_ps(src + 0 * lds); r1 = _mm512_loadu_ps(src + 1 * lds); r2 = _mm512_loadu_ps(src + 2 * lds); r3 = _mm512_loadu_ps(src + 3 * lds);
  r4 = _mm512_loadu_ps(src + 4 * lds); r5 = _mm512_loadu_ps(src + 5 * lds); r6 = _mm512_loadu_ps(src + 6 * lds); r7 = _mm512_loadu_ps(src + 7 * lds);
  r8 = _mm512_loadu_ps(src + 8 * lds); r9 = _mm512_loadu_ps(src + 9 * lds); ra = _mm512_loadu_ps(src + 10 * lds); rb = _mm512_loadu_ps(src + 11 * lds);
  rc = _mm512_loadu_ps(src + 12 * lds); rd = _mm512_loadu_ps(src + 13 * lds); re = _mm512_loadu_ps(src + 14 * lds); rf = _mm512_loadu_ps(src + 15 * lds);
  t0 = _mm512_unpacklo_ps(r0, r1); t1 = _mm512_unpackhi_ps(r0, r1); t2 = _mm512_unpacklo_ps(r2, r3); t3 = _mm512_unpackhi_ps(r2, r3);
  t4 = _mm512_unpacklo_ps(r4, r5); t5 = _mm512_unpackhi_ps(r4, r5); t6 = _mm512_unpacklo_ps(r6, r7); t7 = _mm512_unpackhi_ps(r6, r7);
  t8 = _mm512_unpacklo_ps(r8, r9); t9 = _mm512_unpackhi_ps(r8, r9); ta = _mm512_unpacklo_ps(ra, rb); tb = _mm512_unpackhi_ps(ra, rb);
  tc = _mm512_unpacklo_ps(rc, rd); td = _mm512_unpackhi_ps(rc, rd); te = _mm512_unpacklo_ps(re, rf); tf = _mm512_unpackhi_ps(re, rf);
#define RNNLM_LO(a, b) _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))
#define RNNLM_HI(a, b) _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))
  r0 = RNNLM_LO(t0, t2); r1 = RNNLM_HI(t0, t2); r2 = RNNLM_LO(t1, t3); r3 = RNNLM_HI(t1, t3);
  r4 = RNNLM_LO(t4, t6); r5 = RNNLM_HI(t4, t6); r6 = RNNLM_LO(t5, t7); r7 = RNNLM_HI(t5, t7);
  r8 = RNNLM_LO(t8, ta); r9 = RNNLM_HI(t8, ta); ra = RNNLM_LO(t9, tb); rb = RNNLM_HI(t9, tb);
  rc = RNNLM_LO(tc, te); rd = RNNLM_HI(tc, te); re = RNNLM_LO(td, tf); rf = RNNLM_HI(td, tf);
  t0 = _mm512_shuffle_f32x4(r0, r4, 0x88); t1 = _mm512_shuffle_f32x4(r1, r5, 0x88); t2 = _mm512_shuffle_f32x4(r2, r6, 0x88); t3 = _mm512_shuffle_f32x4(r3, r7, 0x88);
  t4 = _mm512_shuffle_f32x4(r0, r4, 0xdd); t5 = _mm512_shuffle_f32x4(r1, r5, 0xdd); t6 = _mm512_shuffle_f32x4(r2, r6, 0xdd); t7 = _mm512_shuffle_f32x4(r3, r7, 0xdd);
  t8 = _mm512_shuffle_f32x4(r8, rc, 0x88); t9 = _mm512_shuffle_f32x4(r9, rd, 0x88); ta = _mm512_shuffle_f32x4(ra, re, 0x88); tb = _mm512_shuffle_f32x4(rb, rf, 0x88);
  tc = _mm512_shuffle_f32x4(r8, rc, 0xdd); td = _mm512_shuffle_f32x4(r9, rd, 0xdd); te = _mm512_shuffle_f32x4(ra, re, 0xdd); tf = _mm512_shuffle_f32x4(rb, rf, 0xdd);
  r0 = _mm512_shuffle_f32x4(t0, t8, 0x88); r1 = _mm512_shuffle_f32x4(t1, t9, 0x88); r2 = _mm512_shuffle_f32x4(t2, ta, 0x88); r3 = _mm512_shuffle_f32x4(t3, tb, 0x88);
  r4 = _mm512_shuffle_f32x4(t4, tc, 0x88); r5 = _mm512_shuffle_f32x4(t5, td, 0x88); r6 = _mm512_shuffle_f32x4(t6, te, 0x88); r7 = _mm512_shuffle_f32x4(t7, tf, 0x88);
  r8 = _mm512_shuffle_f32x4(t0, t8, 0xdd); r9 = _mm512_shuffle_f32x4(t1, t9, 0xdd); ra = _mm512_shuffle_f32x4(t2, ta, 0xdd); rb = _mm512_shuffle_f32x4(t3, tb, 0xdd);
  rc = _mm512_shuffle_f32x4(t4, tc, 0xdd); rd = _mm512_shuffle_f32x4(t5, td, 0xdd); re = _mm512_shuffle_f32x4(t6, te, 0xdd); rf = _mm512_shuffle_f32x4(t7, tf, 0xdd);
  _mm512_storeu_ps(dst + 0 * ldd, r0); _mm512_storeu_ps(dst + 1 * ldd, r1); _mm512_storeu_ps(dst + 2 * ldd, r2); _mm512_storeu_ps(dst + 3 * ldd, r3);
  _mm512_storeu_ps(dst + 4 * ldd, r4); _mm512_storeu_ps(dst + 5 * ldd, r5); _mm512_storeu_ps(dst + 6 * ldd, r6); _mm512_storeu_ps(dst + 7 * ldd, r7);
  _mm512_storeu_ps(dst + 8 * ldd, r8); _mm512_storeu_ps(dst + 9 * ldd, r9); _mm512_storeu_ps(dst + 10 * ldd, ra); _mm512_storeu_ps(dst + 11 * ldd, rb);
  _mm512_storeu_ps(dst + 12 * ldd, rc); _mm512_storeu_ps(dst + 13 * ldd, rd); _mm512_storeu_ps(dst + 14 * ldd, re); _mm512_storeu_ps(dst + 15 * ldd, rf);
#undef RNNLM_LO
#undef RNNLM_HI
}

AVX512_TARGET static void transpose_avx512(const float* W, int rows, int cols, int ld, float* out) {
  const int r16 = rows / 16 * 16, c16 = cols / 16 * 16;
  for (int i0 = 0; i0 < r16; i0 += 16) {
    for (int j0 = 0; j0 < c16; j0 += 16) {
      transpose16(W + static_cast<int64_t>(i0) * ld + j0, ld, out + static_cast<int64_t>(j0) * rows + i0, rows);
    }
  }
  // The columns past c16 of the first r16 rows, and all of the rows past r16.
  for (int i = 0; i < rows; i++) {
    for (int j = i < r16 ? c16 : 0; j < cols; j++) out[static_cast<int64_t>(j) * rows + i] = W[static_cast<int64_t>(i) * ld + j];
  }
}
#pragma GCC diagnostic pop
#endif

// Whether the small-row kernels run: on CPUs with AVX-512 F/DQ/BW/VL (as the element-wise kernels), unless
// RNNLM_SMALL_GEMM=0 in the environment (to measure OpenBLAS alone). Decided once per process.
static bool small_gemm_available() {
  static const bool on = [] {
    const char* env = std::getenv("RNNLM_SMALL_GEMM");
    return std::strcmp(simd().name, "avx512") == 0 && !(env != nullptr && std::strcmp(env, "0") == 0);
  }();
  return on;
}

// ---------------------------------------------------------------------------------------------------------------

// bfloat16 emulation: when on (for this thread), every product rounds its operands to bfloat16 first. Each JS
// thread runs on its own OS thread with its own addon instance, so the switch and the scratch are per thread.
namespace {
thread_local bool t_bf16 = false;
thread_local std::vector<float> t_bf16_a, t_bf16_b;

// While one lives (on its thread), bf16 products are rounded here and multiplied by OpenBLAS instead of oneDNN,
// whose matmul primitive is made per shape: the class output's products (a class's rows by its words) take a new
// shape nearly every call, where making primitives costs more than the products and holds memory per shape.
thread_local int t_variable_shapes = 0;
struct VariableShapes {
  VariableShapes() { t_variable_shapes++; }
  ~VariableShapes() { t_variable_shapes--; }
  VariableShapes(const VariableShapes&) = delete;
  VariableShapes& operator=(const VariableShapes&) = delete;
};

// The rows x cols matrix at X (row stride ld), rounded to bfloat16, into out (row stride cols).
const float* rounded_bf16(std::vector<float>& out, const float* X, int rows, int cols, int ld) {
  out.resize(static_cast<size_t>(rows) * static_cast<size_t>(cols));
  for (int i = 0; i < rows; i++) round_bf16(out.data() + static_cast<int64_t>(i) * cols, X + static_cast<int64_t>(i) * ld, cols);
  return out.data();
}
}  // namespace

void set_bf16(bool on) { t_bf16 = on; }

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

// x rounded to the nearest bfloat16 (ties to even), kept as float; NaN and infinities pass unchanged.
void round_bf16(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    if ((u & 0x7F800000u) != 0x7F800000u) u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    std::memcpy(y + i, &u, sizeof u);
  }
}

void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
           int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  if (t_bf16 && K > 0 && alpha != 0.0f && dnnl_available() && t_variable_shapes == 0) {
    dnnl_bf16_gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (t_bf16 && K > 0 && alpha != 0.0f) {
    // bf16 mixed precision, emulated: the operands rounded to bfloat16, the product and C in float.
    A = rounded_bf16(t_bf16_a, A, transA ? K : M, transA ? M : K, lda);
    lda = transA ? M : K;
    B = rounded_bf16(t_bf16_b, B, transB ? N : K, transB ? K : N, ldb);
    ldb = transB ? K : N;
  }
  if (K == 0 || alpha == 0.0f) {
    // C = beta * C; BLAS is not called with empty operands. beta == 0 must not read C (it may hold NaN).
    for (int i = 0; i < M; i++) {
      float* c = C + static_cast<int64_t>(i) * ldc;
      if (beta == 0.0f) std::memset(c, 0, sizeof(float) * N);
      else if (beta != 1.0f) simd().scale(c, c, beta, N);
    }
    return;
  }
#if defined(__x86_64__)
  if (!transA && M <= kSmallRows && alpha == 1.0f && (beta == 0.0f || beta == 1.0f) && small_gemm_available()) {
    small_gemm_avx512(transB, M, N, K, A, lda, B, ldb, beta == 1.0f, C, ldc);
    return;
  }
#endif
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, alpha,
              A, lda, B, ldb, beta, C, ldc);
}

// The per-step products of the recurrent backwards, dh = dA Wh^T for the batch's few rows: the small kernels
// multiply by a row-major matrix in one pass over it, but by a transposed one in a pass per 4 rows, so for few
// rows Wh^T is made once per call (a thread's scratch) and multiplied as it is.
namespace {
thread_local std::vector<float> t_recurrent_t;

// W [rows, cols] (row stride ld) transposed into [cols, rows]; nullptr when the rows are too many for the small
// kernels (OpenBLAS then multiplies by W^T as well as by anything).
const float* recurrent_transposed(const float* W, int rows, int cols, int ld, int batch_rows) {
#if defined(__x86_64__)
  if (batch_rows > kSmallRows || !small_gemm_available()) return nullptr;
  t_recurrent_t.resize(static_cast<size_t>(rows) * static_cast<size_t>(cols));
  float* out = t_recurrent_t.data();
  transpose_avx512(W, rows, cols, ld, out);  // small_gemm_available() implies AVX-512
  return out;
#else
  (void)W, (void)rows, (void)cols, (void)ld, (void)batch_rows;
  return nullptr;
#endif
}
}  // namespace

void embedding_forward(float* out, const float* W, const int32_t* ids, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) std::memcpy(out + r * D, W + ids[r] * D, sizeof(float) * D);
}

void embedding_backward(float* dW, const float* dout, const int32_t* ids, int64_t R, int64_t D) {
  for (int64_t r = 0; r < R; r++) simd().axpy(dW + ids[r] * D, dout + r * D, 1.0f, D);
}

// Assembles h_{t-1} for every (n,t) into hprev [N,T,H].
static void shift_states(float* hprev, const float* h0, const float* hs, int N, int T, int H) {
  const int64_t TH = static_cast<int64_t>(T) * H;
  for (int n = 0; n < N; n++) {
    float* hp = hprev + n * TH;
    std::memcpy(hp, h0 + static_cast<int64_t>(n) * H, sizeof(float) * H);
    if (T > 1) std::memcpy(hp + H, hs + n * TH, sizeof(float) * (T - 1) * H);
  }
}

// A [NT,G] = xs [NT,D] Wx [D,G] + b [G]: a recurrent layer's input products for all N*T rows in one product.
static void input_products(float* A, const float* xs, const float* Wx, const float* b, int64_t NT, int D, int G) {
  for (int64_t r = 0; r < NT; r++) std::memcpy(A + r * G, b, sizeof(float) * G);
  sgemm(false, false, static_cast<int>(NT), G, D, 1.0f, xs, D, Wx, G, 1.0f, A, G);
}

// dWx [D,G] += xs^T dA, db [G] += row sums of dA, dxs [NT,D] = dA Wx^T: the time-independent part of a backward.
static void input_gradients(float* dxs, float* dWx, float* db, const float* dA, const float* xs, const float* Wx,
                            int64_t NT, int D, int G) {
  const int nt = static_cast<int>(NT);
  sgemm(true, false, D, G, nt, 1.0f, xs, D, dA, G, 1.0f, dWx, G);
  const Simd& s = simd();
  for (int64_t r = 0; r < NT; r++) s.axpy(db, dA + r * G, 1.0f, G);
  sgemm(false, true, nt, D, G, 1.0f, dA, G, Wx, G, 0.0f, dxs, D);
}

void rnn_forward(float* hs, const float* xs, const float* h0, const float* Wx, const float* Wh, const float* b, int N,
                 int T, int D, int H) {
  const int64_t NT = static_cast<int64_t>(N) * T;
  const int TH = T * H;
  if (NT == 0 || H == 0) return;
  // hs = xs Wx + b over all N*T rows in one product.
  input_products(hs, xs, Wx, b, NT, D, H);
  const StableOperands stable(Wh, static_cast<int64_t>(H) * H);
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
  if (NT * D > 0) std::memset(dxs, 0, sizeof(float) * NT * D);
  if (NT == 0 || H == 0) return;  // an empty window: no gradient
  const float* WhT = recurrent_transposed(Wh, H, H, H, N);
  const StableOperands stable(Wh, static_cast<int64_t>(H) * H, WhT, WhT ? static_cast<int64_t>(H) * H : 0);
  for (int t = T - 1; t >= 0; t--) {
    for (int n = 0; n < N; n++) {
      const int64_t o = static_cast<int64_t>(n) * TH + static_cast<int64_t>(t) * H;
      s.dtanh(dt + o, dhs + o, dh0 + static_cast<int64_t>(n) * H, hs + o, H);
    }
    if (WhT) sgemm(false, false, N, H, H, 1.0f, dt + static_cast<int64_t>(t) * H, TH, WhT, H, 0.0f, dh0, H);
    else sgemm(false, true, N, H, H, 1.0f, dt + static_cast<int64_t>(t) * H, TH, Wh, H, 0.0f, dh0, H);
  }
  shift_states(hprev, h0, hs, N, T, H);
  sgemm(true, false, H, H, static_cast<int>(NT), 1.0f, hprev, H, dt, H, 1.0f, dWh, H);
  input_gradients(dxs, dWx, db, dt, xs, Wx, NT, D, H);
}

// The bias as one more row of W: when b is stored right after W [I,O] (an untied output layer's affine.W and
// affine.b in the flat parameters, and their gradients alike), x with a column of ones appended multiplies
// [W; b] in one product. The forward then needs no pass writing b into every output row (nor the product's read
// of them), and the backward gets dW and db from one product instead of a second pass over dout for db. Not in
// bf16 mode, where the bias would be rounded with the operands.
namespace {
thread_local std::vector<float> t_with_ones;

const float* with_ones(const float* x, int R, int I) {
  t_with_ones.resize(static_cast<size_t>(R) * static_cast<size_t>(I + 1));
  float* xa = t_with_ones.data();
  for (int64_t r = 0; r < R; r++) {
    std::memcpy(xa + r * (I + 1), x + r * I, sizeof(float) * I);
    xa[r * (I + 1) + I] = 1.0f;
  }
  return xa;
}

bool bias_row(const float* W, const float* b, bool transW, int R, int I, int O) {
  return !transW && !t_bf16 && R > 0 && I > 0 && O > 0 && b == W + static_cast<int64_t>(I) * O;
}
}  // namespace

void affine_forward(float* out, const float* x, const float* W, const float* b, bool transW, int R, int I, int O) {
  if (bias_row(W, b, transW, R, I, O)) {
    sgemm(false, false, R, O, I + 1, 1.0f, with_ones(x, R, I), I + 1, W, O, 0.0f, out, O);
    return;
  }
  for (int64_t r = 0; r < R; r++) std::memcpy(out + r * O, b, sizeof(float) * O);
  if (transW) sgemm(false, true, R, O, I, 1.0f, x, I, W, I, 1.0f, out, O);
  else sgemm(false, false, R, O, I, 1.0f, x, I, W, O, 1.0f, out, O);
}

void affine_backward(float* dx, float* dW, float* db, const float* dout, const float* x, const float* W, float* work,
                     bool transW, int R, int I, int O) {
  if (bias_row(dW, db, transW, R, I, O)) {
    // dx as below; [dW; db] += [x 1]^T dout in one product.
    sgemm(false, true, R, I, O, 1.0f, dout, O, W, O, 0.0f, dx, I);
    sgemm(true, false, I + 1, O, R, 1.0f, with_ones(x, R, I), I + 1, dout, O, 1.0f, dW, O);
    return;
  }
  if (O > 0) {
    // db += dout^T 1 as a matrix-vector product (OpenBLAS threads it), with work holding the ones.
    if (R > 0 && I > 0) {
      for (int64_t r = 0; r < R; r++) work[r] = 1.0f;
      cblas_sgemv(CblasRowMajor, CblasTrans, R, O, 1.0f, dout, O, work, 1, 1.0f, db, 1);
    } else {
      const Simd& s = simd();
      for (int64_t r = 0; r < R; r++) s.axpy(db, dout + r * O, 1.0f, O);
    }
  }
  if (transW) {
    // W is E [O,I]: dx = dout E, dE += dout^T x.
    sgemm(false, false, R, I, O, 1.0f, dout, O, W, I, 0.0f, dx, I);
    sgemm(true, false, O, I, R, 1.0f, dout, O, x, I, 1.0f, dW, I);
    return;
  }
  // dx = dout W^T in one product: dx^T = W dout^T then transposed is no faster on the output layer's shapes
  // (R 70-2240, I 100-650, O 10000).
  sgemm(false, true, R, I, O, 1.0f, dout, O, W, O, 0.0f, dx, I);
  sgemm(true, false, I, O, R, 1.0f, x, I, dout, O, 1.0f, dW, O);
}

// ---------------------------------------------------------------------------------------------------------------
// LSTM and GRU. The input products run once over all N*T rows; each step adds h_{t-1} Wh with one sgemm whose
// rows are T*G apart in the gate buffer, then one fused element-wise pass per row.

void lstm_forward(float* hs, float* cs, float* gates, const float* xs, const float* h0, const float* c0,
                  const float* Wx, const float* Wh, const float* b, int N, int T, int D, int H) {
  const int64_t NT = static_cast<int64_t>(N) * T;
  if (NT == 0 || H == 0) return;
  const int G = 4 * H;
  const int64_t TG = static_cast<int64_t>(T) * G, TH = static_cast<int64_t>(T) * H;
  input_products(gates, xs, Wx, b, NT, D, G);
  const StableOperands stable(Wh, static_cast<int64_t>(H) * G);
  const Simd& s = simd();
  for (int t = 0; t < T; t++) {
    float* At = gates + static_cast<int64_t>(t) * G;
    if (t == 0) sgemm(false, false, N, G, H, 1.0f, h0, H, Wh, G, 1.0f, At, static_cast<int>(TG));
    else sgemm(false, false, N, G, H, 1.0f, hs + static_cast<int64_t>(t - 1) * H, static_cast<int>(TH), Wh, G, 1.0f, At,
               static_cast<int>(TG));
    for (int n = 0; n < N; n++) {
      const int64_t o = n * TH + static_cast<int64_t>(t) * H;
      const float* cp = t == 0 ? c0 + static_cast<int64_t>(n) * H : cs + o - H;
      s.lstm_step(At + n * TG, hs + o, cs + o, cp, H);
    }
  }
}

void lstm_backward(float* dxs, float* dWx, float* dWh, float* db, float* dh0, float* dc0, const float* dhs,
                   const float* xs, const float* hs, const float* cs, const float* gates, const float* h0,
                   const float* c0, const float* Wx, const float* Wh, float* work, int N, int T, int D, int H) {
  const int64_t NT = static_cast<int64_t>(N) * T;
  const int64_t NH = static_cast<int64_t>(N) * H;
  if (NH > 0) {
    std::memset(dh0, 0, sizeof(float) * NH);
    std::memset(dc0, 0, sizeof(float) * NH);
  }
  if (NT * D > 0) std::memset(dxs, 0, sizeof(float) * NT * D);
  if (NT == 0 || H == 0) return;
  const int G = 4 * H;
  const int64_t TG = static_cast<int64_t>(T) * G, TH = static_cast<int64_t>(T) * H;
  float* dA = work;                 // [N,T,4H]
  float* hprev = work + NT * G;     // [N,T,H]
  const Simd& s = simd();
  const float* WhT = recurrent_transposed(Wh, H, G, G, N);  // [4H, H]
  const StableOperands stable(Wh, static_cast<int64_t>(H) * G, WhT, WhT ? static_cast<int64_t>(G) * H : 0);
  for (int t = T - 1; t >= 0; t--) {
    for (int n = 0; n < N; n++) {
      const int64_t o = n * TH + static_cast<int64_t>(t) * H, a = n * TG + static_cast<int64_t>(t) * G;
      const float* cp = t == 0 ? c0 + static_cast<int64_t>(n) * H : cs + o - H;
      s.lstm_back(dA + a, dc0 + static_cast<int64_t>(n) * H, dhs + o, dh0 + static_cast<int64_t>(n) * H, gates + a,
                  cs + o, cp, H);
    }
    if (WhT) sgemm(false, false, N, H, G, 1.0f, dA + static_cast<int64_t>(t) * G, static_cast<int>(TG), WhT, H, 0.0f, dh0, H);
    else sgemm(false, true, N, H, G, 1.0f, dA + static_cast<int64_t>(t) * G, static_cast<int>(TG), Wh, G, 0.0f, dh0, H);
  }
  shift_states(hprev, h0, hs, N, T, H);
  sgemm(true, false, H, G, static_cast<int>(NT), 1.0f, hprev, H, dA, G, 1.0f, dWh, G);
  input_gradients(dxs, dWx, db, dA, xs, Wx, NT, D, G);
}

void gru_forward(float* hs, float* gates, float* rh, const float* xs, const float* h0, const float* Wx,
                 const float* Wh, const float* b, int N, int T, int D, int H) {
  const int64_t NT = static_cast<int64_t>(N) * T;
  if (NT == 0 || H == 0) return;
  const int G = 3 * H;
  const int64_t TG = static_cast<int64_t>(T) * G, TH = static_cast<int64_t>(T) * H;
  input_products(gates, xs, Wx, b, NT, D, G);
  const StableOperands stable(Wh, static_cast<int64_t>(H) * G);
  const Simd& s = simd();
  for (int t = 0; t < T; t++) {
    float* At = gates + static_cast<int64_t>(t) * G;
    const float* hp = t == 0 ? h0 : hs + static_cast<int64_t>(t - 1) * H;
    const int64_t ldh = t == 0 ? H : TH;
    sgemm(false, false, N, 2 * H, H, 1.0f, hp, static_cast<int>(ldh), Wh, G, 1.0f, At, static_cast<int>(TG));
    for (int n = 0; n < N; n++) {
      s.gru_zr(At + n * TG, rh + n * TH + static_cast<int64_t>(t) * H, hp + n * ldh, H);
    }
    sgemm(false, false, N, H, H, 1.0f, rh + static_cast<int64_t>(t) * H, static_cast<int>(TH), Wh + 2 * H, G, 1.0f,
          At + 2 * H, static_cast<int>(TG));
    for (int n = 0; n < N; n++) {
      s.gru_n(At + n * TG, hs + n * TH + static_cast<int64_t>(t) * H, hp + n * ldh, H);
    }
  }
}

void gru_backward(float* dxs, float* dWx, float* dWh, float* db, float* dh0, const float* dhs, const float* xs,
                  const float* hs, const float* gates, const float* rh, const float* h0, const float* Wx,
                  const float* Wh, float* work, int N, int T, int D, int H) {
  const int64_t NT = static_cast<int64_t>(N) * T;
  const int64_t NH = static_cast<int64_t>(N) * H;
  if (NH > 0) std::memset(dh0, 0, sizeof(float) * NH);
  if (NT * D > 0) std::memset(dxs, 0, sizeof(float) * NT * D);
  if (NT == 0 || H == 0) return;
  const int G = 3 * H;
  const int64_t TG = static_cast<int64_t>(T) * G, TH = static_cast<int64_t>(T) * H;
  float* dA = work;                // [N,T,3H]
  float* hprev = work + NT * G;    // [N,T,H]
  float* drh = hprev + NT * H;     // [N,H]
  const Simd& s = simd();
  const float* WhT = recurrent_transposed(Wh, H, G, G, N);  // [3H, H]: rows 2H.. are Wh_n^T
  const StableOperands stable(Wh, static_cast<int64_t>(H) * G, WhT, WhT ? static_cast<int64_t>(G) * H : 0);
  for (int t = T - 1; t >= 0; t--) {
    const float* hp = t == 0 ? h0 : hs + static_cast<int64_t>(t - 1) * H;
    const int64_t ldh = t == 0 ? H : TH;
    for (int n = 0; n < N; n++) {
      const int64_t a = n * TG + static_cast<int64_t>(t) * G;
      s.gru_back1(dA + a, dh0 + static_cast<int64_t>(n) * H, dhs + n * TH + static_cast<int64_t>(t) * H, gates + a,
                  hp + n * ldh, H);
    }
    if (WhT) {
      sgemm(false, false, N, H, H, 1.0f, dA + static_cast<int64_t>(t) * G + 2 * H, static_cast<int>(TG),
            WhT + static_cast<int64_t>(2) * H * H, H, 0.0f, drh, H);
    } else {
      sgemm(false, true, N, H, H, 1.0f, dA + static_cast<int64_t>(t) * G + 2 * H, static_cast<int>(TG), Wh + 2 * H, G,
            0.0f, drh, H);
    }
    for (int n = 0; n < N; n++) {
      const int64_t a = n * TG + static_cast<int64_t>(t) * G;
      s.gru_back2(dA + a, dh0 + static_cast<int64_t>(n) * H, drh + static_cast<int64_t>(n) * H, gates + a, hp + n * ldh,
                  H);
    }
    if (WhT) sgemm(false, false, N, H, 2 * H, 1.0f, dA + static_cast<int64_t>(t) * G, static_cast<int>(TG), WhT, H, 1.0f, dh0, H);
    else sgemm(false, true, N, H, 2 * H, 1.0f, dA + static_cast<int64_t>(t) * G, static_cast<int>(TG), Wh, G, 1.0f, dh0, H);
  }
  shift_states(hprev, h0, hs, N, T, H);
  const int nt = static_cast<int>(NT);
  sgemm(true, false, H, 2 * H, nt, 1.0f, hprev, H, dA, G, 1.0f, dWh, G);
  sgemm(true, false, H, H, nt, 1.0f, rh, H, dA + 2 * H, G, 1.0f, dWh + 2 * H, G);
  input_gradients(dxs, dWx, db, dA, xs, Wx, NT, D, G);
}

// ---------------------------------------------------------------------------------------------------------------
// Dropout: the same counter-based hash as src/backend/js.ts (murmur3's finaliser, chained over the key).

static inline uint32_t mix(uint32_t h, uint32_t k) {
  h ^= k * 0x9e3779b9u;
  h = (h ^ (h >> 16)) * 0x85ebca6bu;
  h = (h ^ (h >> 13)) * 0xc2b2ae35u;
  return h ^ (h >> 16);
}

void dropout_forward(float* out, float* mask, const float* x, double p, uint32_t seed, uint32_t iteration,
                     uint32_t site, uint32_t row0, int64_t N, int64_t T, int64_t U) {
  // A unit is kept when its hash h (an integer in [0, 2^32)) satisfies h >= p * 2^32, i.e. h >= ceil(p * 2^32);
  // a ceiling of 2^32 (p within 2^-32 of 1) keeps nothing.
  const double threshold = std::ceil(p * 4294967296.0);
  const bool keep_none = threshold > 4294967295.0;
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  const Simd& s = simd();
  for (int64_t r = 0; r < N; r++) {
    for (int64_t t = 0; t < T; t++) {
      const uint32_t base = mix(mix(mix(mix(mix(0x243f6a88u, seed), iteration), site),
                                    row0 + static_cast<uint32_t>(r)), static_cast<uint32_t>(t));
      const int64_t o = (r * T + t) * U;
      if (keep_none) {
        for (int64_t u = 0; u < U; u++) {
          mask[o + u] = 0.0f;
          out[o + u] = x[o + u] * 0.0f;
        }
      } else {
        s.dropout_row(out + o, mask + o, x + o, base, static_cast<uint32_t>(threshold), scale, U);
      }
    }
  }
}

void dropout_backward(float* dx, const float* dout, const float* mask, int64_t R) { simd().mul(dx, dout, mask, R); }

// y = softmax(x) * scale over n entries (y may be x); returns -log softmax(x)[t] as log(sum) - (x[t] - max), exact
// even where y[t] underflows to 0, or 0 when t is -1. x[t] is read before y is written.
static double softmax_row(float* y, const float* x, int64_t n, int32_t t, float scale = 1.0f) {
  const Simd& s = simd();
  const float xt = t == -1 ? 0.0f : x[t];
  const float m = s.max(x, n);
  const float sum = s.exp_sum(y, x, m, n);
  s.scale(y, y, scale / sum, n);
  return t == -1 ? 0.0 : std::log(static_cast<double>(sum)) - (static_cast<double>(xt) - m);
}

double softmax_xent_forward(float* ys, const float* scores, const int32_t* ts, int64_t R, int64_t V) {
  double loss = 0;
  for (int64_t r = 0; r < R; r++) loss += softmax_row(ys + r * V, scores + r * V, V, ts[r]);
  return loss;
}

double softmax_xent_forward_grad(float* dx, const float* scores, const int32_t* ts, float scale_, int64_t R, int64_t V) {
  double loss = 0;
  for (int64_t r = 0; r < R; r++) {
    const int32_t t = ts[r];
    float* d = dx + r * V;
    if (t == -1) {
      std::memset(d, 0, sizeof(float) * V);
      continue;
    }
    loss += softmax_row(d, scores + r * V, V, t, scale_);
    d[t] -= scale_;
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

double class_softmax_forward(float* zs, float* zp, float* probs, float* hg, const float* h, const float* W,
                             const float* b, const float* Wc, const float* bc, const int32_t* bounds,
                             const int32_t* ct, const int32_t* order, const int32_t* groups, const int32_t* ts,
                             bool transW, int R, int H, int V, int C, bool classes) {
  double loss = 0;
  if (classes) {
    // P(class | h) for every row.
    affine_forward(zs, h, Wc, bc, false, R, H, C);
    loss = softmax_xent_forward(zp, zs, ct, R, C);
  }
  // P(word | class, h), one product per class against its block of W, over the rows whose target is in it.
  const VariableShapes shapes;
  int64_t p = 0;
  for (int c = 0; c < C; c++) {
    const int g0 = groups[c], n = groups[c + 1] - g0;
    if (n == 0) continue;
    const int lo = bounds[c], m = bounds[c + 1] - lo;
    float* G = hg + static_cast<int64_t>(g0) * H;
    float* S = probs + p;
    for (int i = 0; i < n; i++) {
      std::memcpy(G + static_cast<int64_t>(i) * H, h + static_cast<int64_t>(order[g0 + i]) * H, sizeof(float) * H);
      std::memcpy(S + static_cast<int64_t>(i) * m, b + lo, sizeof(float) * m);
    }
    if (transW) sgemm(false, true, n, m, H, 1.0f, G, H, W + static_cast<int64_t>(lo) * H, H, 1.0f, S, m);
    else sgemm(false, false, n, m, H, 1.0f, G, H, W + lo, V, 1.0f, S, m);
    for (int i = 0; i < n; i++) {
      float* x = S + static_cast<int64_t>(i) * m;
      loss += softmax_row(x, x, m, ts[order[g0 + i]] - lo);
    }
    p += static_cast<int64_t>(n) * m;
  }
  return loss;
}

void class_softmax_backward(float* dh, float* dW, float* db, float* dWc, float* dbc, float* work, float* zp,
                            float* probs, const float* hg, const float* h, const float* W, const float* Wc,
                            const int32_t* bounds, const int32_t* ct, const int32_t* order, const int32_t* groups,
                            const int32_t* ts, float scale_, bool transW, int R, int H, int V, int C,
                            bool classes) {
  const Simd& s = simd();
  if (classes) {
    softmax_xent_backward(zp, zp, ct, scale_, R, C);
    affine_backward(dh, dWc, dbc, zp, h, Wc, work, false, R, H, C);
  }
  const VariableShapes shapes;
  int64_t p = 0;
  for (int c = 0; c < C; c++) {
    const int g0 = groups[c], n = groups[c + 1] - g0;
    if (n == 0) continue;
    const int lo = bounds[c], m = bounds[c + 1] - lo;
    const float* G = hg + static_cast<int64_t>(g0) * H;
    float* D = probs + p;
    for (int i = 0; i < n; i++) {
      float* row = D + static_cast<int64_t>(i) * m;
      s.scale(row, row, scale_, m);
      row[ts[order[g0 + i]] - lo] -= scale_;
      s.axpy(db + lo, row, 1.0f, m);
    }
    // work (free after affine_backward) holds dh of the group's rows before they are added back.
    if (transW) {
      sgemm(true, false, m, H, n, 1.0f, D, m, G, H, 1.0f, dW + static_cast<int64_t>(lo) * H, H);
      sgemm(false, false, n, H, m, 1.0f, D, m, W + static_cast<int64_t>(lo) * H, H, 0.0f, work, H);
    } else {
      sgemm(true, false, H, m, n, 1.0f, G, H, D, m, 1.0f, dW + lo, V);
      sgemm(false, true, n, H, m, 1.0f, D, m, W + lo, V, 0.0f, work, H);
    }
    for (int i = 0; i < n; i++) s.axpy(dh + static_cast<int64_t>(order[g0 + i]) * H, work + static_cast<int64_t>(i) * H, 1.0f, H);
    p += static_cast<int64_t>(n) * m;
  }
}

void gather_words(float* out, const float* W, const int32_t* ids, bool transW, int H, int V, int n) {
  if (transW) {
    for (int j = 0; j < n; j++) std::memcpy(out + static_cast<int64_t>(j) * H, W + static_cast<int64_t>(ids[j]) * H, sizeof(float) * H);
    return;
  }
  // Row by row of W [H,V]: each row stays in cache while the n words are picked from it.
  for (int i = 0; i < H; i++) {
    const float* row = W + static_cast<int64_t>(i) * V;
    for (int j = 0; j < n; j++) out[static_cast<int64_t>(j) * H + i] = row[ids[j]];
  }
}

void scatter_add_words(float* dW, const float* src, const int32_t* ids, bool transW, int H, int V, int n) {
  if (transW) {
    const Simd& s = simd();
    for (int j = 0; j < n; j++) s.axpy(dW + static_cast<int64_t>(ids[j]) * H, src + static_cast<int64_t>(j) * H, 1.0f, H);
    return;
  }
  for (int i = 0; i < H; i++) {
    float* row = dW + static_cast<int64_t>(i) * V;
    for (int j = 0; j < n; j++) row[ids[j]] += src[static_cast<int64_t>(j) * H + i];
  }
}

void sgd_update(float* param, float* grad, float lr, int64_t n, bool zero_grad) {
  if (zero_grad) {
    // In blocks that stay in cache between the update and the zeroing.
    constexpr int64_t kBlock = 4096;
    const Simd& s = simd();
    for (int64_t i = 0; i < n; i += kBlock) {
      const int64_t m = n - i < kBlock ? n - i : kBlock;
      s.axpy(param + i, grad + i, -lr, m);
      std::memset(grad + i, 0, sizeof(float) * static_cast<size_t>(m));
    }
    return;
  }
  // Long vectors (a model's parameters) through OpenBLAS's saxpy, which splits them across its threads; its
  // increments are ints, so longer ones go in pieces.
  constexpr int64_t kThreaded = int64_t{1} << 16;
  if (n < kThreaded) {
    simd().axpy(param, grad, -lr, n);
    return;
  }
  constexpr int64_t kPiece = int64_t{1} << 30;
  for (int64_t i = 0; i < n; i += kPiece) {
    const int m = static_cast<int>(n - i < kPiece ? n - i : kPiece);
    cblas_saxpy(m, -lr, grad + i, 1, param + i, 1);
  }
}

double sum_squares(const float* x, int64_t n) { return simd().sumsq(x, n); }

void zero(float* x, int64_t n) {
  if (n > 0) std::memset(x, 0, sizeof(float) * static_cast<size_t>(n));
}

double add_sum_squares(float* y, float* x, int64_t n, bool zero_x) {
  // In blocks that stay in cache between the add, the squares and the zeroing.
  constexpr int64_t kBlock = 4096;
  const Simd& s = simd();
  double total = 0;
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t m = n - i < kBlock ? n - i : kBlock;
    total += s.add_sumsq(y + i, x + i, m);
    if (zero_x) std::memset(x + i, 0, sizeof(float) * static_cast<size_t>(m));
  }
  return total;
}

double sum_squares_rows(const float* x, const int32_t* rows, int64_t R, int64_t D) {
  const Simd& s = simd();
  double total = 0;
  for (int64_t r = 0; r < R; r++) total += s.sumsq(x + static_cast<int64_t>(rows[r]) * D, D);
  return total;
}

void sgd_update_rows(float* param, float* grad, float lr, const int32_t* rows, int64_t R, int64_t D, bool zero_grad) {
  const Simd& s = simd();
  for (int64_t r = 0; r < R; r++) {
    const int64_t o = static_cast<int64_t>(rows[r]) * D;
    s.axpy(param + o, grad + o, -lr, D);
    if (zero_grad) std::memset(grad + o, 0, sizeof(float) * static_cast<size_t>(D));
  }
}

double add_sum_squares_rows(float* y, float* x, const int32_t* rows, int64_t R, int64_t D, bool zero_x) {
  const Simd& s = simd();
  double total = 0;
  for (int64_t r = 0; r < R; r++) {
    const int64_t o = static_cast<int64_t>(rows[r]) * D;
    total += s.add_sumsq(y + o, x + o, D);
    if (zero_x) std::memset(x + o, 0, sizeof(float) * static_cast<size_t>(D));
  }
  return total;
}

void scale(float* x, float s, int64_t n) { simd().scale(x, x, s, n); }

namespace {

// The tree kernels read one node's row of W (and dW) per path entry, scattered over a matrix of V-1 rows: each
// entry prefetches the row of the entry this many ahead, so that the cache misses overlap.
constexpr int kTreeAhead = 4;

inline void PrefetchRow(const float* row, int H) {
  for (int j = 0; j < H; j += 16) __builtin_prefetch(row + j);
}

// h . w with eight running sums (so the compiler can keep them in vector registers without reassociating).
inline float Dot(const float* h, const float* w, int H) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= H; j += 8) {
    for (int q = 0; q < 8; q++) acc[q] += h[j + q] * w[j + q];
  }
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; j < H; j++) s += h[j] * w[j];
  return s;
}

}  // namespace

double tree_softmax_forward(float* g, const float* h, const float* W, const float* b, const int32_t* ts,
                            const int32_t* offsets, const int32_t* start, const int32_t* node, const int32_t* code,
                            int R, int H) {
  double loss = 0;
  for (int r = 0; r < R; r++) {
    const int32_t t = ts[r];
    if (t == -1) continue;
    const float* hr = h + static_cast<int64_t>(r) * H;
    float* gr = g + offsets[r] - start[t];
    const int32_t k0 = start[t], k1 = start[t + 1];
    for (int32_t k = k0; k < k1 && k < k0 + kTreeAhead; k++) PrefetchRow(W + static_cast<int64_t>(node[k]) * H, H);
    for (int32_t k = k0; k < k1; k++) {
      if (k + kTreeAhead < k1) PrefetchRow(W + static_cast<int64_t>(node[k + kTreeAhead]) * H, H);
      const float s = Dot(hr, W + static_cast<int64_t>(node[k]) * H, H) + b[node[k]];
      // With e = exp(-|s|): -log sigmoid(z) = log1p(e) - min(z, 0) for z = +-s, and sigmoid(s) = 1 / (1 + e) for
      // s >= 0, e / (1 + e) below: one exp and one log1p per node, neither overflowing.
      const float e = std::exp(-std::fabs(s));
      const float z = code[k] == 1 ? s : -s;
      loss += static_cast<double>(std::log1p(e)) - (z < 0 ? z : 0);
      gr[k] = (s >= 0 ? 1 / (1 + e) : e / (1 + e)) - static_cast<float>(code[k]);
    }
  }
  return loss;
}

void tree_softmax_backward(float* dh, float* dW, float* db, const float* g, float scale, const float* h,
                           const float* W, const int32_t* ts, const int32_t* offsets, const int32_t* start,
                           const int32_t* node, int R, int H) {
  std::memset(dh, 0, sizeof(float) * static_cast<size_t>(R) * static_cast<size_t>(H));
  for (int r = 0; r < R; r++) {
    const int32_t t = ts[r];
    if (t == -1) continue;
    const float* hr = h + static_cast<int64_t>(r) * H;
    float* dhr = dh + static_cast<int64_t>(r) * H;
    const float* gr = g + offsets[r] - start[t];
    const int32_t k0 = start[t], k1 = start[t + 1];
    for (int32_t k = k0; k < k1; k++) {
      if (k + kTreeAhead < k1) {
        PrefetchRow(W + static_cast<int64_t>(node[k + kTreeAhead]) * H, H);
        PrefetchRow(dW + static_cast<int64_t>(node[k + kTreeAhead]) * H, H);
      }
      const float gs = gr[k] * scale;
      const float* w = W + static_cast<int64_t>(node[k]) * H;
      float* dw = dW + static_cast<int64_t>(node[k]) * H;
      for (int j = 0; j < H; j++) {
        dhr[j] += gs * w[j];
        dw[j] += gs * hr[j];
      }
      db[node[k]] += gs;
    }
  }
}

}  // namespace rnnlm
