// bf16 products on oneDNN's matmul (native/dnnl_gemm.cc), where the addon was built with oneDNN.
#pragma once

namespace rnnlm {

// Whether the addon was built with oneDNN.
bool dnnl_available();

// C = alpha * op(A) op(B) + beta * C (row-major, as sgemm) with op(A) and op(B) rounded to bfloat16 and the product
// accumulated in float32. Needs dnnl_available(); M, N, K > 0.
void dnnl_bf16_gemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                    int ldb, float beta, float* C, int ldc);

}  // namespace rnnlm
