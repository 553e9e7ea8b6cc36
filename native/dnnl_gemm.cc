// bf16 products on oneDNN (built when binding.gyp finds its headers: RNNLM_DNNL). The operands are rounded to
// bfloat16 (to nearest even, as round_bf16), multiplied by oneDNN's matmul with float32 accumulation into a float32
// C: on a CPU with AVX512_BF16 or AMX in its bf16 instructions, elsewhere by oneDNN's own emulation. One matmul
// primitive per shape, made at its first use and kept for the thread (each JS thread has its own).
#include "dnnl_gemm.h"

#if defined(RNNLM_DNNL)
#include <cblas.h>
#include <omp.h>

#include <cstring>
#include <dnnl.hpp>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

namespace rnnlm {

namespace {

using Key = std::tuple<bool, bool, int, int, int, int, float, float>;

// A shape's matmul and its memory objects, whose data handles each call points at that call's buffers.
struct Product {
  dnnl::matmul matmul;
  dnnl::memory a, b, c;
};

struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<Key, Product> products;
  std::vector<uint16_t> a, b;
  // The bf16 copies made of operands in StableOperands' ranges, by (pointer, rows, cols, ld); `fresh` while the
  // StableOperands that made it lives (the buffers stay for the next call's copies of the same shapes).
  struct Copy {
    std::vector<uint16_t> data;
    bool fresh = false;
  };
  std::map<std::tuple<const float*, int, int, int>, Copy> copies;
};

// StableOperands' ranges on this thread.
thread_local const float* t_stable[2][2] = {{nullptr, nullptr}, {nullptr, nullptr}};

// Made on a thread's first bf16 product, kept for the thread's life (a worker thread's engine and primitives).
thread_local std::unique_ptr<Context> t_context;

Context& context() {
  if (!t_context) t_context = std::make_unique<Context>();
  return *t_context;
}

// The rows x cols matrix at X (row stride ld) as bfloat16, rounded to nearest even, into out (row stride cols).
void to_bf16(std::vector<uint16_t>& out, const float* X, int rows, int cols, int ld) {
  out.resize(static_cast<size_t>(rows) * static_cast<size_t>(cols));
  for (int i = 0; i < rows; i++) {
    const float* x = X + static_cast<int64_t>(i) * ld;
    uint16_t* y = out.data() + static_cast<int64_t>(i) * cols;
    for (int j = 0; j < cols; j++) {
      uint32_t u;
      std::memcpy(&u, x + j, sizeof u);
      if ((u & 0x7F800000u) != 0x7F800000u) u += 0x7FFFu + ((u >> 16) & 1u);
      y[j] = static_cast<uint16_t>(u >> 16);
    }
  }
}

}  // namespace

bool dnnl_available() { return true; }

void dnnl_bf16_gemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                    int ldb, float beta, float* C, int ldc) {
  using dnnl::memory;
  Context& ctx = context();
  // oneDNN runs on OpenMP: as many threads as OpenBLAS has, so that workers and BLAS threads keep their share.
  omp_set_num_threads(openblas_get_num_threads());
  to_bf16(ctx.a, A, transA ? K : M, transA ? M : K, lda);
  const int b_rows = transB ? N : K, b_cols = transB ? K : N;
  const uint16_t* b_data = nullptr;
  if ((B >= t_stable[0][0] && B < t_stable[0][1]) || (B >= t_stable[1][0] && B < t_stable[1][1])) {
    Context::Copy& copy = ctx.copies[{B, b_rows, b_cols, ldb}];
    if (!copy.fresh) to_bf16(copy.data, B, b_rows, b_cols, ldb);
    copy.fresh = true;
    b_data = copy.data.data();
  } else {
    to_bf16(ctx.b, B, b_rows, b_cols, ldb);
    b_data = ctx.b.data();
  }
  const Key key{transA, transB, M, N, K, ldc, alpha, beta};
  auto it = ctx.products.find(key);
  if (it == ctx.products.end()) {
    const memory::desc a_md({M, K}, memory::data_type::bf16, transA ? memory::format_tag::ba : memory::format_tag::ab);
    const memory::desc b_md({K, N}, memory::data_type::bf16, transB ? memory::format_tag::ba : memory::format_tag::ab);
    const memory::desc c_md({M, N}, memory::data_type::f32, memory::dims{ldc, 1});
    dnnl::primitive_attr attr;
    if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
    if (beta != 0.0f) {
      dnnl::post_ops ops;
      ops.append_sum(beta);
      attr.set_post_ops(ops);
    }
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, ctx.engine);
    Product p{dnnl::matmul(pd), memory(a_md, ctx.engine, nullptr), memory(b_md, ctx.engine, nullptr), memory(c_md, ctx.engine, nullptr)};
    it = ctx.products.emplace(key, std::move(p)).first;
  }
  Product& p = it->second;
  p.a.set_data_handle(ctx.a.data());
  p.b.set_data_handle(const_cast<uint16_t*>(b_data));
  p.c.set_data_handle(C);
  p.matmul.execute(ctx.stream, {{DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.b}, {DNNL_ARG_DST, p.c}});
  ctx.stream.wait();
}

StableOperands::StableOperands(const float* p, int64_t n, const float* q, int64_t m) {
  t_stable[0][0] = p;
  t_stable[0][1] = p + n;
  t_stable[1][0] = q;
  t_stable[1][1] = q == nullptr ? nullptr : q + m;
}

StableOperands::~StableOperands() {
  t_stable[0][0] = t_stable[0][1] = t_stable[1][0] = t_stable[1][1] = nullptr;
  if (t_context) {
    for (auto& [key, copy] : t_context->copies) copy.fresh = false;
  }
}

}  // namespace rnnlm

#else

namespace rnnlm {

bool dnnl_available() { return false; }

void dnnl_bf16_gemm(bool, bool, int, int, int, float, const float*, int, const float*, int, float, float*, int) {}

StableOperands::StableOperands(const float*, int64_t, const float*, int64_t) {}

StableOperands::~StableOperands() {}

}  // namespace rnnlm

#endif
