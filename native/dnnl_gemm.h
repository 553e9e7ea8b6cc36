// bf16 products on oneDNN's matmul (native/dnnl_gemm.cc), where the addon was built with oneDNN.
#pragma once

#include <cstdint>

namespace rnnlm {

// Whether the addon was built with oneDNN.
bool dnnl_available();

// C = alpha * op(A) op(B) + beta * C (row-major, as sgemm) with op(A) and op(B) rounded to bfloat16 and the product
// accumulated in float32. Needs dnnl_available(); M, N, K > 0.
void dnnl_bf16_gemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                    int ldb, float beta, float* C, int ldc);

// While one lives (on its thread), the bf16 copy of a product's B operand that lies in [p, p + n) or [q, q + m) is
// made once and reused: the recurrent kernels' Wh (and its transpose), the same in every step's product. Scoped
// to one kernel call, so no copy outlives the weights it was made from.
class StableOperands {
 public:
  StableOperands(const float* p, int64_t n, const float* q = nullptr, int64_t m = 0);
  ~StableOperands();
  StableOperands(const StableOperands&) = delete;
  StableOperands& operator=(const StableOperands&) = delete;
};

}  // namespace rnnlm
