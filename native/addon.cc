// The N-API boundary of the native backend. It trusts nothing: every exported function checks the argument count,
// each argument's type (Float32Array / Int32Array / number / boolean), that dimensions are integers in range,
// that products of dimensions do not overflow, that every buffer is long enough for its shape, and that token ids
// lie in [0, V). Failures throw TypeError / RangeError naming the argument and the numbers; nothing a JavaScript
// caller passes can make the kernels touch memory outside the buffers it gave.
//
// The addon is context-aware (Napi::Addon): it keeps no mutable global state, so every worker thread can load it.
#include <napi.h>

#include <cblas.h>

#include <sys/stat.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "kernels.h"
#include "dnnl_gemm.h"
#include "mpi.h"
#include "words.h"

namespace {

using Napi::CallbackInfo;
using Napi::Value;

std::string Describe(const Napi::Value& v) {
  if (v.IsTypedArray()) {
    static const char* const kNames[] = {"Int8Array",    "Uint8Array",   "Uint8ClampedArray", "Int16Array",
                                         "Uint16Array",  "Int32Array",   "Uint32Array",       "Float32Array",
                                         "Float64Array", "BigInt64Array", "BigUint64Array"};
    const auto t = v.As<Napi::TypedArray>().TypedArrayType();
    const char* name = (t >= 0 && t < 11) ? kNames[t] : "TypedArray";
    return std::string(name) + " of length " + std::to_string(v.As<Napi::TypedArray>().ElementLength());
  }
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsNumber()) return v.ToString().Utf8Value() + " of type number";
  if (v.IsBoolean()) return std::string(v.As<Napi::Boolean>().Value() ? "true" : "false") + " of type boolean";
  if (v.IsString()) return "string";
  if (v.IsArrayBuffer()) return "ArrayBuffer";
  if (v.IsArray()) return "Array";
  if (v.IsFunction()) return "function";
  if (v.IsObject()) return "object";
  return "value";
}

// [a, b] as a JavaScript array of two numbers.
Napi::Array NumberPair(Napi::Env env, double a, double b) {
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(uint32_t{0}, Napi::Number::New(env, a));
  out.Set(uint32_t{1}, Napi::Number::New(env, b));
  return out;
}

// The checked arguments of one call.
class Args {
 public:
  Args(const CallbackInfo& info, const char* fn, size_t count) : Args(info, fn, count, count) {}

  // Between `min` and `max` arguments (the last ones optional: see Has).
  Args(const CallbackInfo& info, const char* fn, size_t min, size_t max) : info_(info), env_(info.Env()) {
    if (info.Length() < min || info.Length() > max) {
      throw Napi::TypeError::New(env_, std::string(fn) + " expects " + std::to_string(min) +
                                           (min == max ? "" : " to " + std::to_string(max)) + " arguments but received " +
                                           std::to_string(info.Length()));
    }
  }

  // Whether optional argument i was given (undefined counts as not given).
  bool Has(size_t i) const { return i < info_.Length() && !info_[i].IsUndefined(); }

  // An integer in [min, INT32_MAX].
  int Dim(size_t i, const char* name, int64_t min = 0) const {
    const Napi::Value v = info_[i];
    if (!v.IsNumber()) TypeErr("Expected integer for " + std::string(name) + " but received " + Describe(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::trunc(d) != d) {
      TypeErr("Expected integer for " + std::string(name) + " but received " + Describe(v));
    }
    if (d < static_cast<double>(min) || d > static_cast<double>(INT32_MAX)) {
      RangeErr("Expected integer in [" + std::to_string(min) + ", 2147483647] for " + name + " but received " +
               v.ToString().Utf8Value());
    }
    return static_cast<int>(d);
  }

  double Finite(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsNumber()) TypeErr("Expected number for " + std::string(name) + " but received " + Describe(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d)) RangeErr("Expected finite number for " + std::string(name) + " but received " + v.ToString().Utf8Value());
    return d;
  }

  // An integer in [0, 2^32): seeds and counters of the dropout hash.
  uint32_t Uint32(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsNumber()) TypeErr("Expected integer for " + std::string(name) + " but received " + Describe(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::trunc(d) != d) {
      TypeErr("Expected integer for " + std::string(name) + " but received " + Describe(v));
    }
    if (d < 0 || d > 4294967295.0) {
      RangeErr("Expected integer in [0, 4294967295] for " + std::string(name) + " but received " + v.ToString().Utf8Value());
    }
    return static_cast<uint32_t>(d);
  }

  // A dropout ratio in [0, 1).
  double Probability(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsNumber()) TypeErr("Expected number for " + std::string(name) + " but received " + Describe(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d < 1)) RangeErr("Expected number in [0, 1) for " + std::string(name) + " but received " + v.ToString().Utf8Value());
    return d;
  }

  bool Bool(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsBoolean()) TypeErr("Expected boolean for " + std::string(name) + " but received " + Describe(v));
    return v.As<Napi::Boolean>().Value();
  }

  // A Float32Array with at least `need` elements (`shape` names the product in messages).
  float* F32(size_t i, const char* name, int64_t need, const char* shape) const {
    return Typed<float>(i, name, need, shape, napi_float32_array, "Float32Array");
  }

  double* F64(size_t i, const char* name, int64_t need, const char* shape) const {
    return Typed<double>(i, name, need, shape, napi_float64_array, "Float64Array");
  }

  int32_t* I32(size_t i, const char* name, int64_t need, const char* shape) const {
    return Typed<int32_t>(i, name, need, shape, napi_int32_array, "Int32Array");
  }

  // A Uint8Array (or Buffer) with at least `need` elements.
  uint8_t* U8(size_t i, const char* name, int64_t need, const char* shape) const {
    return Typed<uint8_t>(i, name, need, shape, napi_uint8_array, "Uint8Array");
  }

  // A whole number in [0, 2^53).
  double SafeInt(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsNumber()) TypeErr("Expected integer for " + std::string(name) + " but received " + Describe(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || std::trunc(d) != d) TypeErr("Expected integer for " + std::string(name) + " but received " + Describe(v));
    if (d < 0 || d > 9007199254740991.0) RangeErr("Expected integer in [0, 2^53) for " + std::string(name) + " but received " + v.ToString().Utf8Value());
    return d;
  }

  // The length of an Int32Array argument.
  int64_t I32Length(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      TypeErr("Expected Int32Array for " + std::string(name) + " but received " + Describe(v));
    }
    return static_cast<int64_t>(v.As<Napi::TypedArray>().ElementLength());
  }

  // The length of a Float32Array argument.
  int64_t F32Length(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      TypeErr("Expected Float32Array for " + std::string(name) + " but received " + Describe(v));
    }
    return static_cast<int64_t>(v.As<Napi::TypedArray>().ElementLength());
  }

  // a*b (*c), refusing results beyond 2^40 elements long before int64 could overflow.
  int64_t Mul(const char* what, int64_t a, int64_t b, int64_t c = 1) const {
    int64_t ab, abc;
    if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, &abc) || abc > (int64_t{1} << 40)) {
      RangeErr(std::string("Size ") + what + " is too large");
    }
    return abc;
  }

  void CheckInt(const char* what, int64_t v) const {
    if (v > INT32_MAX) RangeErr(std::string("Size ") + what + " = " + std::to_string(v) + " exceeds 2147483647");
  }

  // Every ids[r], r < R, in [0, V) (or -1 when allowIgnore).
  void Ids(const char* name, const int32_t* ids, int64_t R, int64_t V, bool allowIgnore) const {
    for (int64_t r = 0; r < R; r++) {
      const int32_t id = ids[r];
      if ((id >= 0 && id < V) || (allowIgnore && id == -1)) continue;
      RangeErr("Expected " + std::string(name) + "[" + std::to_string(r) + "] in [0, " + std::to_string(V) + ")" +
               (allowIgnore ? " or -1" : "") + " but received " + std::to_string(id));
    }
  }

  // The minimum length of a row-major [rows, cols] matrix with row stride ld.
  int64_t MatrixLength(const char* name, int64_t rows, int64_t cols, int64_t ld) const {
    const int64_t minLd = cols > 1 ? cols : 1;
    if (ld < minLd) {
      RangeErr("Expected leading dimension of " + std::string(name) + " >= " + std::to_string(minLd) +
               " but received " + std::to_string(ld));
    }
    if (rows == 0 || cols == 0) return 0;
    return Mul(name, rows - 1, ld) + cols;
  }

  [[noreturn]] void TypeErr(const std::string& msg) const { throw Napi::TypeError::New(env_, msg); }
  [[noreturn]] void RangeErr(const std::string& msg) const { throw Napi::RangeError::New(env_, msg); }

 private:
  template <typename T>
  T* Typed(size_t i, const char* name, int64_t need, const char* shape, napi_typedarray_type type,
           const char* typeName) const {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
      TypeErr("Expected " + std::string(typeName) + " for " + name + " but received " + Describe(v));
    }
    auto arr = v.As<Napi::TypedArrayOf<T>>();
    const int64_t len = static_cast<int64_t>(arr.ElementLength());
    if (len < need) {
      RangeErr("Expected " + std::string(typeName) + " of length >= " + std::to_string(need) + " (" + shape +
               ") for " + name + " but received length " + std::to_string(len));
    }
    // A detached or empty array has no data; nothing will be read from it because need == 0.
    return len == 0 ? nullptr : arr.Data();
  }

  const CallbackInfo& info_;
  Napi::Env env_;
};

// WordCounter(threads): `rnnlm prepare`'s word counting (native/words.h), one object per text being counted.
class WordCounterWrap : public Napi::ObjectWrap<WordCounterWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "WordCounter",
                       {InstanceMethod("count", &WordCounterWrap::Count), InstanceMethod("words", &WordCounterWrap::Words)});
  }

  explicit WordCounterWrap(const CallbackInfo& info) : Napi::ObjectWrap<WordCounterWrap>(info) {
    Args a(info, "WordCounter", 1);
    const int threads = a.Dim(0, "threads", 1);
    if (threads > 2) a.RangeErr("Expected integer in [1, 2] for threads but received " + std::to_string(threads));
    counter_ = std::make_unique<rnnlm::WordCounter>(threads);
  }

 private:
  // count(bytes, length, last, ids) -> { consumed, tokens, bad }: tokenises bytes[0, length) into provisional ids.
  Napi::Value Count(const CallbackInfo& info) {
    Args a(info, "count", 4);
    const int length = a.Dim(1, "length");
    const uint8_t* bytes = a.U8(0, "bytes", length, "length");
    const bool last = a.Bool(2, "last");
    int32_t* ids = a.I32(3, "ids", length, "length");
    const rnnlm::CountResult r = counter_->Count(bytes, static_cast<size_t>(length), last, ids);
    if (r.full) throw Napi::RangeError::New(info.Env(), "more than 2^30 different words: the text is not made of words");
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("consumed", Napi::Number::New(info.Env(), static_cast<double>(r.consumed)));
    o.Set("tokens", Napi::Number::New(info.Env(), static_cast<double>(r.tokens)));
    o.Set("bad", Napi::Number::New(info.Env(), static_cast<double>(r.bad)));
    return o;
  }

  // words() -> { words, counts, byProvisional }: every word counted so far, its count, and the word of each
  // provisional id.
  Napi::Value Words(const CallbackInfo& info) {
    Args a(info, "words", 0);
    Napi::Env env = info.Env();
    const rnnlm::WordCounter::Merged m = counter_->Merge();
    Napi::Array words = Napi::Array::New(env, m.counts.size());
    Napi::Float64Array counts = Napi::Float64Array::New(env, m.counts.size());
    for (size_t i = 0; i < m.counts.size(); i++) {
      const rnnlm::WordTable& t = counter_->table(m.table[i]);
      words.Set(static_cast<uint32_t>(i),
                Napi::String::New(env, reinterpret_cast<const char*>(t.word(m.local[i])), t.length(m.local[i])));
      counts[i] = static_cast<double>(m.counts[i]);
    }
    Napi::Int32Array by = Napi::Int32Array::New(env, m.by_provisional.size());
    if (!m.by_provisional.empty()) std::memcpy(by.Data(), m.by_provisional.data(), m.by_provisional.size() * sizeof(int32_t));
    Napi::Object o = Napi::Object::New(env);
    o.Set("words", words);
    o.Set("counts", counts);
    o.Set("byProvisional", by);
    return o;
  }

  std::unique_ptr<rnnlm::WordCounter> counter_;
};

class RnnlmAddon : public Napi::Addon<RnnlmAddon> {
 public:
  RnnlmAddon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceMethod("sgemm", &RnnlmAddon::Sgemm),
                             InstanceMethod("embeddingForward", &RnnlmAddon::EmbeddingForward),
                             InstanceMethod("embeddingBackward", &RnnlmAddon::EmbeddingBackward),
                             InstanceMethod("rnnForward", &RnnlmAddon::RnnForward),
                             InstanceMethod("rnnBackward", &RnnlmAddon::RnnBackward),
                             InstanceMethod("lstmForward", &RnnlmAddon::LstmForward),
                             InstanceMethod("lstmBackward", &RnnlmAddon::LstmBackward),
                             InstanceMethod("gruForward", &RnnlmAddon::GruForward),
                             InstanceMethod("gruBackward", &RnnlmAddon::GruBackward),
                             InstanceMethod("dropoutForward", &RnnlmAddon::DropoutForward),
                             InstanceMethod("dropoutBackward", &RnnlmAddon::DropoutBackward),
                             InstanceMethod("affineForward", &RnnlmAddon::AffineForward),
                             InstanceMethod("affineBackward", &RnnlmAddon::AffineBackward),
                             InstanceMethod("classSoftmaxForward", &RnnlmAddon::ClassSoftmaxForward),
                             InstanceMethod("gatherWords", &RnnlmAddon::GatherWords),
                             InstanceMethod("treeSoftmaxForward", &RnnlmAddon::TreeSoftmaxForward),
                             InstanceMethod("treeSoftmaxBackward", &RnnlmAddon::TreeSoftmaxBackward),
                             InstanceMethod("scatterAddWords", &RnnlmAddon::ScatterAddWords),
                             InstanceMethod("classSoftmaxBackward", &RnnlmAddon::ClassSoftmaxBackward),
                             InstanceMethod("softmaxCrossEntropyForward", &RnnlmAddon::SoftmaxForward),
                             InstanceMethod("softmaxCrossEntropyBackward", &RnnlmAddon::SoftmaxBackward),
                             InstanceMethod("sgdUpdate", &RnnlmAddon::SgdUpdate),
                             InstanceMethod("sumSquares", &RnnlmAddon::SumSquares),
                             InstanceMethod("addSumSquares", &RnnlmAddon::AddSumSquares),
                             InstanceMethod("zero", &RnnlmAddon::Zero),
                             InstanceMethod("sumSquaresRows", &RnnlmAddon::SumSquaresRows),
                             InstanceMethod("sgdUpdateRows", &RnnlmAddon::SgdUpdateRows),
                             InstanceMethod("addSumSquaresRows", &RnnlmAddon::AddSumSquaresRows),
                             InstanceMethod("scale", &RnnlmAddon::Scale),
                             InstanceMethod("getNumThreads", &RnnlmAddon::GetNumThreads),
                             InstanceMethod("setBf16", &RnnlmAddon::SetBf16),
                             InstanceMethod("setNumThreads", &RnnlmAddon::SetNumThreads),
                             InstanceMethod("info", &RnnlmAddon::Info),
                             InstanceMethod("renumberFile", &RnnlmAddon::RenumberFile),
                             InstanceMethod("mpiInit", &RnnlmAddon::MpiInit),
                             InstanceMethod("mpiSumOrdered", &RnnlmAddon::MpiSumOrdered),
                             InstanceMethod("mpiAllgather", &RnnlmAddon::MpiAllgather),
                             InstanceMethod("mpiSetTimeout", &RnnlmAddon::MpiSetTimeout),
                             InstanceMethod("mpiFinalize", &RnnlmAddon::MpiFinalize),
                             InstanceValue("WordCounter", WordCounterWrap::Define(env)),
                         });
    (void)env;
  }

 private:
  // sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
  Value Sgemm(const CallbackInfo& info) {
    Args a(info, "sgemm", 13);
    const bool tA = a.Bool(0, "transA"), tB = a.Bool(1, "transB");
    const int M = a.Dim(2, "M"), N = a.Dim(3, "N"), K = a.Dim(4, "K");
    const float alpha = static_cast<float>(a.Finite(5, "alpha"));
    const int lda = a.Dim(7, "lda", 1), ldb = a.Dim(9, "ldb", 1), ldc = a.Dim(12, "ldc", 1);
    const float beta = static_cast<float>(a.Finite(10, "beta"));
    const float* A = a.F32(6, "A", a.MatrixLength("A", tA ? K : M, tA ? M : K, lda), tA ? "K x M" : "M x K");
    const float* B = a.F32(8, "B", a.MatrixLength("B", tB ? N : K, tB ? K : N, ldb), tB ? "N x K" : "K x N");
    float* C = a.F32(11, "C", a.MatrixLength("C", M, N, ldc), "M x N");
    rnnlm::sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return info.Env().Undefined();
  }

  // embeddingForward(out, W, ids, R, V, D)
  Value EmbeddingForward(const CallbackInfo& info) {
    Args a(info, "embeddingForward", 6);
    const int R = a.Dim(3, "R"), V = a.Dim(4, "V"), D = a.Dim(5, "D");
    float* out = a.F32(0, "out", a.Mul("R*D", R, D), "R*D");
    const float* W = a.F32(1, "W", a.Mul("V*D", V, D), "V*D");
    const int32_t* ids = a.I32(2, "ids", R, "R");
    a.Ids("ids", ids, R, V, false);
    rnnlm::embedding_forward(out, W, ids, R, D);
    return info.Env().Undefined();
  }

  // embeddingBackward(dW, dout, ids, R, V, D)
  Value EmbeddingBackward(const CallbackInfo& info) {
    Args a(info, "embeddingBackward", 6);
    const int R = a.Dim(3, "R"), V = a.Dim(4, "V"), D = a.Dim(5, "D");
    float* dW = a.F32(0, "dW", a.Mul("V*D", V, D), "V*D");
    const float* dout = a.F32(1, "dout", a.Mul("R*D", R, D), "R*D");
    const int32_t* ids = a.I32(2, "ids", R, "R");
    a.Ids("ids", ids, R, V, false);
    rnnlm::embedding_backward(dW, dout, ids, R, D);
    return info.Env().Undefined();
  }

  // rnnForward(hs, xs, h0, Wx, Wh, b, N, T, D, H)
  Value RnnForward(const CallbackInfo& info) {
    Args a(info, "rnnForward", 10);
    const int N = a.Dim(6, "N"), T = a.Dim(7, "T"), D = a.Dim(8, "D"), H = a.Dim(9, "H");
    a.CheckInt("N*T", a.Mul("N*T", N, T));
    a.CheckInt("T*H", a.Mul("T*H", T, H));
    float* hs = a.F32(0, "hs", a.Mul("N*T*H", N, T, H), "N*T*H");
    const float* xs = a.F32(1, "xs", a.Mul("N*T*D", N, T, D), "N*T*D");
    const float* h0 = a.F32(2, "h0", a.Mul("N*H", N, H), "N*H");
    const float* Wx = a.F32(3, "Wx", a.Mul("D*H", D, H), "D*H");
    const float* Wh = a.F32(4, "Wh", a.Mul("H*H", H, H), "H*H");
    const float* b = a.F32(5, "b", H, "H");
    rnnlm::rnn_forward(hs, xs, h0, Wx, Wh, b, N, T, D, H);
    return info.Env().Undefined();
  }

  // rnnBackward(dxs, dWx, dWh, db, dh0, dhs, xs, hs, h0, Wx, Wh, work, N, T, D, H)
  Value RnnBackward(const CallbackInfo& info) {
    Args a(info, "rnnBackward", 16);
    const int N = a.Dim(12, "N"), T = a.Dim(13, "T"), D = a.Dim(14, "D"), H = a.Dim(15, "H");
    a.CheckInt("N*T", a.Mul("N*T", N, T));
    a.CheckInt("T*H", a.Mul("T*H", T, H));
    const int64_t NTH = a.Mul("N*T*H", N, T, H), NTD = a.Mul("N*T*D", N, T, D);
    float* dxs = a.F32(0, "dxs", NTD, "N*T*D");
    float* dWx = a.F32(1, "dWx", a.Mul("D*H", D, H), "D*H");
    float* dWh = a.F32(2, "dWh", a.Mul("H*H", H, H), "H*H");
    float* db = a.F32(3, "db", H, "H");
    float* dh0 = a.F32(4, "dh0", a.Mul("N*H", N, H), "N*H");
    const float* dhs = a.F32(5, "dhs", NTH, "N*T*H");
    const float* xs = a.F32(6, "xs", NTD, "N*T*D");
    const float* hs = a.F32(7, "hs", NTH, "N*T*H");
    const float* h0 = a.F32(8, "h0", a.Mul("N*H", N, H), "N*H");
    const float* Wx = a.F32(9, "Wx", a.Mul("D*H", D, H), "D*H");
    const float* Wh = a.F32(10, "Wh", a.Mul("H*H", H, H), "H*H");
    float* work = a.F32(11, "work", a.Mul("2*N*T*H", 2, NTH), "2*N*T*H");
    rnnlm::rnn_backward(dxs, dWx, dWh, db, dh0, dhs, xs, hs, h0, Wx, Wh, work, N, T, D, H);
    return info.Env().Undefined();
  }

  // The sizes of a recurrent op with G = gates*H columns, checked for range and overflow (every index the kernels
  // compute, e.g. n*T*G, fits int64, and the strides passed to BLAS fit int).
  struct RecurrentShapes {
    int N, T, D, H;
    int64_t NT, G, NH, NTH, NTD, NTG, DG, HG;
  };

  static RecurrentShapes Shapes(const Args& a, size_t first, int gates) {
    RecurrentShapes s{};
    s.N = a.Dim(first, "N");
    s.T = a.Dim(first + 1, "T");
    s.D = a.Dim(first + 2, "D");
    s.H = a.Dim(first + 3, "H");
    s.NT = a.Mul("N*T", s.N, s.T);
    a.CheckInt("N*T", s.NT);
    s.G = a.Mul("gates*H", gates, s.H);
    a.CheckInt("gates*H", s.G);
    a.CheckInt("T*gates*H", a.Mul("T*gates*H", s.T, s.G));
    s.NH = a.Mul("N*H", s.N, s.H);
    s.NTH = a.Mul("N*T*H", s.N, s.T, s.H);
    s.NTD = a.Mul("N*T*D", s.N, s.T, s.D);
    s.NTG = a.Mul("N*T*gates*H", s.N, s.T, s.G);
    s.DG = a.Mul("D*gates*H", s.D, s.G);
    s.HG = a.Mul("H*gates*H", s.H, s.G);
    return s;
  }

  // lstmForward(hs, cs, gates, xs, h0, c0, Wx, Wh, b, N, T, D, H)
  Value LstmForward(const CallbackInfo& info) {
    Args a(info, "lstmForward", 13);
    const RecurrentShapes s = Shapes(a, 9, 4);
    float* hs = a.F32(0, "hs", s.NTH, "N*T*H");
    float* cs = a.F32(1, "cs", s.NTH, "N*T*H");
    float* gates = a.F32(2, "gates", s.NTG, "N*T*4H");
    const float* xs = a.F32(3, "xs", s.NTD, "N*T*D");
    const float* h0 = a.F32(4, "h0", s.NH, "N*H");
    const float* c0 = a.F32(5, "c0", s.NH, "N*H");
    const float* Wx = a.F32(6, "Wx", s.DG, "D*4H");
    const float* Wh = a.F32(7, "Wh", s.HG, "H*4H");
    const float* b = a.F32(8, "b", s.G, "4H");
    rnnlm::lstm_forward(hs, cs, gates, xs, h0, c0, Wx, Wh, b, s.N, s.T, s.D, s.H);
    return info.Env().Undefined();
  }

  // lstmBackward(dxs, dWx, dWh, db, dh0, dc0, dhs, xs, hs, cs, gates, h0, c0, Wx, Wh, work, N, T, D, H)
  Value LstmBackward(const CallbackInfo& info) {
    Args a(info, "lstmBackward", 20);
    const RecurrentShapes s = Shapes(a, 16, 4);
    float* dxs = a.F32(0, "dxs", s.NTD, "N*T*D");
    float* dWx = a.F32(1, "dWx", s.DG, "D*4H");
    float* dWh = a.F32(2, "dWh", s.HG, "H*4H");
    float* db = a.F32(3, "db", s.G, "4H");
    float* dh0 = a.F32(4, "dh0", s.NH, "N*H");
    float* dc0 = a.F32(5, "dc0", s.NH, "N*H");
    const float* dhs = a.F32(6, "dhs", s.NTH, "N*T*H");
    const float* xs = a.F32(7, "xs", s.NTD, "N*T*D");
    const float* hs = a.F32(8, "hs", s.NTH, "N*T*H");
    const float* cs = a.F32(9, "cs", s.NTH, "N*T*H");
    const float* gates = a.F32(10, "gates", s.NTG, "N*T*4H");
    const float* h0 = a.F32(11, "h0", s.NH, "N*H");
    const float* c0 = a.F32(12, "c0", s.NH, "N*H");
    const float* Wx = a.F32(13, "Wx", s.DG, "D*4H");
    const float* Wh = a.F32(14, "Wh", s.HG, "H*4H");
    float* work = a.F32(15, "work", a.Mul("5*N*T*H", 5, s.NTH), "5*N*T*H");
    rnnlm::lstm_backward(dxs, dWx, dWh, db, dh0, dc0, dhs, xs, hs, cs, gates, h0, c0, Wx, Wh, work, s.N, s.T, s.D, s.H);
    return info.Env().Undefined();
  }

  // gruForward(hs, gates, rh, xs, h0, Wx, Wh, b, N, T, D, H)
  Value GruForward(const CallbackInfo& info) {
    Args a(info, "gruForward", 12);
    const RecurrentShapes s = Shapes(a, 8, 3);
    float* hs = a.F32(0, "hs", s.NTH, "N*T*H");
    float* gates = a.F32(1, "gates", s.NTG, "N*T*3H");
    float* rh = a.F32(2, "rh", s.NTH, "N*T*H");
    const float* xs = a.F32(3, "xs", s.NTD, "N*T*D");
    const float* h0 = a.F32(4, "h0", s.NH, "N*H");
    const float* Wx = a.F32(5, "Wx", s.DG, "D*3H");
    const float* Wh = a.F32(6, "Wh", s.HG, "H*3H");
    const float* b = a.F32(7, "b", s.G, "3H");
    rnnlm::gru_forward(hs, gates, rh, xs, h0, Wx, Wh, b, s.N, s.T, s.D, s.H);
    return info.Env().Undefined();
  }

  // gruBackward(dxs, dWx, dWh, db, dh0, dhs, xs, hs, gates, rh, h0, Wx, Wh, work, N, T, D, H)
  Value GruBackward(const CallbackInfo& info) {
    Args a(info, "gruBackward", 18);
    const RecurrentShapes s = Shapes(a, 14, 3);
    float* dxs = a.F32(0, "dxs", s.NTD, "N*T*D");
    float* dWx = a.F32(1, "dWx", s.DG, "D*3H");
    float* dWh = a.F32(2, "dWh", s.HG, "H*3H");
    float* db = a.F32(3, "db", s.G, "3H");
    float* dh0 = a.F32(4, "dh0", s.NH, "N*H");
    const float* dhs = a.F32(5, "dhs", s.NTH, "N*T*H");
    const float* xs = a.F32(6, "xs", s.NTD, "N*T*D");
    const float* hs = a.F32(7, "hs", s.NTH, "N*T*H");
    const float* gates = a.F32(8, "gates", s.NTG, "N*T*3H");
    const float* rh = a.F32(9, "rh", s.NTH, "N*T*H");
    const float* h0 = a.F32(10, "h0", s.NH, "N*H");
    const float* Wx = a.F32(11, "Wx", s.DG, "D*3H");
    const float* Wh = a.F32(12, "Wh", s.HG, "H*3H");
    float* work = a.F32(13, "work", a.Mul("4*N*T*H", 4, s.NTH) + s.NH, "4*N*T*H+N*H");
    rnnlm::gru_backward(dxs, dWx, dWh, db, dh0, dhs, xs, hs, gates, rh, h0, Wx, Wh, work, s.N, s.T, s.D, s.H);
    return info.Env().Undefined();
  }

  // dropoutForward(out, mask, x, p, seed, iteration, site, row0, N, T, U)
  Value DropoutForward(const CallbackInfo& info) {
    Args a(info, "dropoutForward", 11);
    const int N = a.Dim(8, "N"), T = a.Dim(9, "T"), U = a.Dim(10, "U");
    const int64_t n = a.Mul("N*T*U", N, T, U);
    float* out = a.F32(0, "out", n, "N*T*U");
    float* mask = a.F32(1, "mask", n, "N*T*U");
    const float* x = a.F32(2, "x", n, "N*T*U");
    const double p = a.Probability(3, "p");
    const uint32_t seed = a.Uint32(4, "seed"), iteration = a.Uint32(5, "iteration"), site = a.Uint32(6, "site"),
                   row0 = a.Uint32(7, "row0");
    rnnlm::dropout_forward(out, mask, x, p, seed, iteration, site, row0, N, T, U);
    return info.Env().Undefined();
  }

  // dropoutBackward(dx, dout, mask, R)
  Value DropoutBackward(const CallbackInfo& info) {
    Args a(info, "dropoutBackward", 4);
    const int R = a.Dim(3, "R");
    float* dx = a.F32(0, "dx", R, "R");
    const float* dout = a.F32(1, "dout", R, "R");
    const float* mask = a.F32(2, "mask", R, "R");
    rnnlm::dropout_backward(dx, dout, mask, R);
    return info.Env().Undefined();
  }

  // affineForward(out, x, W, b, transW, R, I, O)
  Value AffineForward(const CallbackInfo& info) {
    Args a(info, "affineForward", 8);
    const bool transW = a.Bool(4, "transW");
    const int R = a.Dim(5, "R"), I = a.Dim(6, "I"), O = a.Dim(7, "O");
    float* out = a.F32(0, "out", a.Mul("R*O", R, O), "R*O");
    const float* x = a.F32(1, "x", a.Mul("R*I", R, I), "R*I");
    const float* W = a.F32(2, "W", a.Mul("I*O", I, O), "I*O");
    const float* b = a.F32(3, "b", O, "O");
    rnnlm::affine_forward(out, x, W, b, transW, R, I, O);
    return info.Env().Undefined();
  }

  // affineBackward(dx, dW, db, dout, x, W, work, transW, R, I, O)
  Value AffineBackward(const CallbackInfo& info) {
    Args a(info, "affineBackward", 11);
    const bool transW = a.Bool(7, "transW");
    const int R = a.Dim(8, "R"), I = a.Dim(9, "I"), O = a.Dim(10, "O");
    float* dx = a.F32(0, "dx", a.Mul("R*I", R, I), "R*I");
    float* dW = a.F32(1, "dW", a.Mul("I*O", I, O), "I*O");
    float* db = a.F32(2, "db", O, "O");
    const float* dout = a.F32(3, "dout", a.Mul("R*O", R, O), "R*O");
    const float* x = a.F32(4, "x", a.Mul("R*I", R, I), "R*I");
    const float* W = a.F32(5, "W", a.Mul("I*O", I, O), "I*O");
    float* work = a.F32(6, "work", a.Mul("R*I", R, I), "R*I");
    rnnlm::affine_backward(dx, dW, db, dout, x, W, work, transW, R, I, O);
    return info.Env().Undefined();
  }

  // The class grouping shared by classSoftmaxForward/Backward (argument indices given by the caller): bounds [C+1]
  // from 0 to V, strictly increasing; ct [R] each row's class (-1 exactly where ts is -1, else the class of ts);
  // groups [C+1] from 0, non-decreasing, to count <= R; order [count] rows of ct = c in group c. Returns
  // sum_c n_c * m_c, the length probs needs.
  static int64_t ClassGroups(const Args& a, const int32_t* bounds, const int32_t* ct, size_t orderArg,
                             const int32_t* groups, const int32_t* ts, int R, int V, int C, const int32_t** order) {
    if (bounds[0] != 0 || bounds[C] != V) {
      a.RangeErr("Expected bounds from 0 to V = " + std::to_string(V) + " but received " + std::to_string(bounds[0]) + " .. " + std::to_string(bounds[C]));
    }
    for (int c = 0; c < C; c++) {
      if (bounds[c + 1] <= bounds[c]) a.RangeErr("Expected increasing bounds but bounds[" + std::to_string(c + 1) + "] = " + std::to_string(bounds[c + 1]) + " after " + std::to_string(bounds[c]));
    }
    for (int r = 0; r < R; r++) {
      const int32_t k = ct[r], t = ts[r];
      const bool ok = (k == -1 && t == -1) || (k >= 0 && k < C && t >= bounds[k] && t < bounds[k + 1]);
      if (!ok) a.RangeErr("Expected ct[" + std::to_string(r) + "] to be the class of ts[" + std::to_string(r) + "] = " + std::to_string(t) + " but received " + std::to_string(k));
    }
    if (groups[0] != 0) a.RangeErr("Expected groups[0] = 0 but received " + std::to_string(groups[0]));
    for (int c = 0; c < C; c++) {
      if (groups[c + 1] < groups[c] || groups[c + 1] > R) {
        a.RangeErr("Expected non-decreasing groups in [0, R = " + std::to_string(R) + "] but groups[" + std::to_string(c + 1) + "] = " + std::to_string(groups[c + 1]));
      }
    }
    const int count = groups[C];
    *order = a.I32(orderArg, "order", count, "groups[C]");
    int64_t need = 0;
    for (int c = 0; c < C; c++) {
      for (int i = groups[c]; i < groups[c + 1]; i++) {
        const int32_t r = (*order)[i];
        if (r < 0 || r >= R || ct[r] != c) {
          a.RangeErr("Expected order[" + std::to_string(i) + "] to be a row of class " + std::to_string(c) + " but received " + std::to_string(r));
        }
      }
      need += a.Mul("n_c*m_c", groups[c + 1] - groups[c], bounds[c + 1] - bounds[c]);
      if (need > (int64_t{1} << 40)) a.RangeErr("Size of probs is too large");
    }
    return need;
  }

  // classSoftmaxForward(zs, zp, probs, hg, h, W, b, Wc, bc, bounds, ct, order, groups, ts, transW, R, H, V, C,
  //                     classes) -> loss
  Value ClassSoftmaxForward(const CallbackInfo& info) {
    Args a(info, "classSoftmaxForward", 20);
    const bool transW = a.Bool(14, "transW");
    const bool classes = a.Bool(19, "classes");
    const int R = a.Dim(15, "R"), H = a.Dim(16, "H"), V = a.Dim(17, "V", 1), C = a.Dim(18, "C", 1);
    if (C > V) a.RangeErr("Expected C <= V but received C = " + std::to_string(C) + ", V = " + std::to_string(V));
    float* zs = a.F32(0, "zs", a.Mul("R*C", R, C), "R*C");
    float* zp = a.F32(1, "zp", a.Mul("R*C", R, C), "R*C");
    const float* h = a.F32(4, "h", a.Mul("R*H", R, H), "R*H");
    const float* W = a.F32(5, "W", a.Mul("H*V", H, V), "H*V");
    const float* b = a.F32(6, "b", V, "V");
    const float* Wc = a.F32(7, "Wc", a.Mul("H*C", H, C), "H*C");
    const float* bc = a.F32(8, "bc", C, "C");
    const int32_t* bounds = a.I32(9, "bounds", int64_t{C} + 1, "C+1");
    const int32_t* ct = a.I32(10, "ct", R, "R");
    const int32_t* groups = a.I32(12, "groups", int64_t{C} + 1, "C+1");
    const int32_t* ts = a.I32(13, "ts", R, "R");
    const int32_t* order = nullptr;
    const int64_t need = ClassGroups(a, bounds, ct, 11, groups, ts, R, V, C, &order);
    float* probs = a.F32(2, "probs", need, "sum of group rows x class sizes");
    float* hg = a.F32(3, "hg", a.Mul("groups[C]*H", groups[C], H), "groups[C]*H");
    return Napi::Number::New(info.Env(), rnnlm::class_softmax_forward(zs, zp, probs, hg, h, W, b, Wc, bc, bounds, ct,
                                                                     order, groups, ts, transW, R, H, V, C, classes));
  }

  // classSoftmaxBackward(dh, dW, db, dWc, dbc, work, zp, probs, hg, h, W, Wc, bounds, ct, order, groups, ts, scale,
  //                      transW, R, H, V, C, classes)
  Value ClassSoftmaxBackward(const CallbackInfo& info) {
    Args a(info, "classSoftmaxBackward", 24);
    const bool transW = a.Bool(18, "transW");
    const bool classes = a.Bool(23, "classes");
    const int R = a.Dim(19, "R"), H = a.Dim(20, "H"), V = a.Dim(21, "V", 1), C = a.Dim(22, "C", 1);
    if (C > V) a.RangeErr("Expected C <= V but received C = " + std::to_string(C) + ", V = " + std::to_string(V));
    float* dh = a.F32(0, "dh", a.Mul("R*H", R, H), "R*H");
    float* dW = a.F32(1, "dW", a.Mul("H*V", H, V), "H*V");
    float* db = a.F32(2, "db", V, "V");
    float* dWc = a.F32(3, "dWc", a.Mul("H*C", H, C), "H*C");
    float* dbc = a.F32(4, "dbc", C, "C");
    float* work = a.F32(5, "work", a.Mul("R*H", R, H), "R*H");
    float* zp = a.F32(6, "zp", a.Mul("R*C", R, C), "R*C");
    const float* h = a.F32(9, "h", a.Mul("R*H", R, H), "R*H");
    const float* W = a.F32(10, "W", a.Mul("H*V", H, V), "H*V");
    const float* Wc = a.F32(11, "Wc", a.Mul("H*C", H, C), "H*C");
    const int32_t* bounds = a.I32(12, "bounds", int64_t{C} + 1, "C+1");
    const int32_t* ct = a.I32(13, "ct", R, "R");
    const int32_t* groups = a.I32(15, "groups", int64_t{C} + 1, "C+1");
    const int32_t* ts = a.I32(16, "ts", R, "R");
    const float scale = static_cast<float>(a.Finite(17, "scale"));
    const int32_t* order = nullptr;
    const int64_t need = ClassGroups(a, bounds, ct, 14, groups, ts, R, V, C, &order);
    float* probs = a.F32(7, "probs", need, "sum of group rows x class sizes");
    const float* hg = a.F32(8, "hg", a.Mul("groups[C]*H", groups[C], H), "groups[C]*H");
    rnnlm::class_softmax_backward(dh, dW, db, dWc, dbc, work, zp, probs, hg, h, W, Wc, bounds, ct, order, groups, ts,
                                  scale, transW, R, H, V, C, classes);
    return info.Env().Undefined();
  }

  // The tree softmax's row checks (see Backend.treeSoftmaxForward): every target in [0, V) or -1, its path within
  // start and node, offsets[r+1] - offsets[r] its length and within g, every node on it in [0, V-1), every code (when
  // given) 0 or 1.
  static void TreeRows(const Args& a, const int32_t* ts, const int32_t* offsets, const int32_t* start, int64_t startLength,
                       const int32_t* node, int64_t E, const int32_t* code, int64_t gLength, int R, int V) {
    if (offsets[0] != 0) a.RangeErr("Expected offsets[0] = 0 but received " + std::to_string(offsets[0]));
    (void)startLength;
    for (int r = 0; r < R; r++) {
      const int32_t t = ts[r];
      const int64_t o = offsets[r];
      if (t == -1) {
        if (offsets[r + 1] != o) a.RangeErr("Expected offsets[" + std::to_string(r + 1) + "] = offsets[" + std::to_string(r) + "] for an ignored target");
        continue;
      }
      if (t < 0 || t >= V) a.RangeErr("Expected ts[" + std::to_string(r) + "] in [0, " + std::to_string(V) + ") or -1 but received " + std::to_string(t));
      const int64_t k0 = start[t], k1 = start[t + 1];
      if (!(k0 >= 0 && k1 >= k0 && k1 <= E)) {
        a.RangeErr("Expected start[" + std::to_string(t) + "] <= start[" + std::to_string(t + 1) + "] <= " + std::to_string(E));
      }
      if (offsets[r + 1] - o != k1 - k0 || o < 0 || o + (k1 - k0) > gLength) {
        a.RangeErr("Expected offsets[" + std::to_string(r + 1) + "] - offsets[" + std::to_string(r) + "] = " + std::to_string(k1 - k0) +
                   " (the path of word " + std::to_string(t) + ") within g of length " + std::to_string(gLength));
      }
      for (int64_t k = k0; k < k1; k++) {
        if (node[k] < 0 || node[k] >= V - 1) a.RangeErr("Expected node[" + std::to_string(k) + "] in [0, " + std::to_string(V - 1) + ") but received " + std::to_string(node[k]));
        if (code && code[k] != 0 && code[k] != 1) a.RangeErr("Expected code[" + std::to_string(k) + "] 0 or 1 but received " + std::to_string(code[k]));
      }
    }
  }

  // treeSoftmaxForward(g, h, W, b, ts, offsets, start, node, code, R, H, V)
  Value TreeSoftmaxForward(const CallbackInfo& info) {
    Args a(info, "treeSoftmaxForward", 12);
    const int R = a.Dim(9, "R"), H = a.Dim(10, "H"), V = a.Dim(11, "V", 2);
    const int64_t gLength = a.F32Length(0, "g");
    float* g = a.F32(0, "g", 0, "g.length");
    const float* h = a.F32(1, "h", a.Mul("R*H", R, H), "R*H");
    const float* W = a.F32(2, "W", a.Mul("(V-1)*H", V - 1, H), "(V-1)*H");
    const float* b = a.F32(3, "b", V - 1, "V-1");
    const int32_t* ts = a.I32(4, "ts", R, "R");
    const int32_t* offsets = a.I32(5, "offsets", int64_t{R} + 1, "R+1");
    const int32_t* start = a.I32(6, "start", int64_t{V} + 1, "V+1");
    const int64_t E = a.I32Length(7, "node");
    const int32_t* node = a.I32(7, "node", 0, "node.length");
    const int32_t* code = a.I32(8, "code", E, "node.length");
    TreeRows(a, ts, offsets, start, int64_t{V} + 1, node, E, code, gLength, R, V);
    return Napi::Number::New(info.Env(), rnnlm::tree_softmax_forward(g, h, W, b, ts, offsets, start, node, code, R, H));
  }

  // treeSoftmaxBackward(dh, dW, db, g, scale, h, W, ts, offsets, start, node, R, H, V)
  Value TreeSoftmaxBackward(const CallbackInfo& info) {
    Args a(info, "treeSoftmaxBackward", 14);
    const int R = a.Dim(11, "R"), H = a.Dim(12, "H"), V = a.Dim(13, "V", 2);
    float* dh = a.F32(0, "dh", a.Mul("R*H", R, H), "R*H");
    float* dW = a.F32(1, "dW", a.Mul("(V-1)*H", V - 1, H), "(V-1)*H");
    float* db = a.F32(2, "db", V - 1, "V-1");
    const int64_t gLength = a.F32Length(3, "g");
    const float* g = a.F32(3, "g", 0, "g.length");
    const float scale = static_cast<float>(a.Finite(4, "scale"));
    const float* h = a.F32(5, "h", a.Mul("R*H", R, H), "R*H");
    const float* W = a.F32(6, "W", a.Mul("(V-1)*H", V - 1, H), "(V-1)*H");
    const int32_t* ts = a.I32(7, "ts", R, "R");
    const int32_t* offsets = a.I32(8, "offsets", int64_t{R} + 1, "R+1");
    const int32_t* start = a.I32(9, "start", int64_t{V} + 1, "V+1");
    const int64_t E = a.I32Length(10, "node");
    const int32_t* node = a.I32(10, "node", 0, "node.length");
    TreeRows(a, ts, offsets, start, int64_t{V} + 1, node, E, nullptr, gLength, R, V);
    rnnlm::tree_softmax_backward(dh, dW, db, g, scale, h, W, ts, offsets, start, node, R, H);
    return info.Env().Undefined();
  }

  // gatherWords(out, W, ids, transW, H, V, n)
  Value GatherWords(const CallbackInfo& info) {
    Args a(info, "gatherWords", 7);
    const bool transW = a.Bool(3, "transW");
    const int H = a.Dim(4, "H"), V = a.Dim(5, "V"), n = a.Dim(6, "n");
    float* out = a.F32(0, "out", a.Mul("n*H", n, H), "n*H");
    const float* W = a.F32(1, "W", a.Mul("H*V", H, V), "H*V");
    const int32_t* ids = a.I32(2, "ids", n, "n");
    a.Ids("ids", ids, n, V, false);
    rnnlm::gather_words(out, W, ids, transW, H, V, n);
    return info.Env().Undefined();
  }

  // scatterAddWords(dW, src, ids, transW, H, V, n)
  Value ScatterAddWords(const CallbackInfo& info) {
    Args a(info, "scatterAddWords", 7);
    const bool transW = a.Bool(3, "transW");
    const int H = a.Dim(4, "H"), V = a.Dim(5, "V"), n = a.Dim(6, "n");
    float* dW = a.F32(0, "dW", a.Mul("H*V", H, V), "H*V");
    const float* src = a.F32(1, "src", a.Mul("n*H", n, H), "n*H");
    const int32_t* ids = a.I32(2, "ids", n, "n");
    a.Ids("ids", ids, n, V, false);
    rnnlm::scatter_add_words(dW, src, ids, transW, H, V, n);
    return info.Env().Undefined();
  }

  // softmaxCrossEntropyForward(ys, scores, ts, R, V[, gradScale]) -> summed loss; with gradScale, ys gets the
  // gradient (softmax - onehot) * gradScale instead of the probabilities
  Value SoftmaxForward(const CallbackInfo& info) {
    Args a(info, "softmaxCrossEntropyForward", 5, 6);
    const int R = a.Dim(3, "R"), V = a.Dim(4, "V", 1);
    const int64_t RV = a.Mul("R*V", R, V);
    float* ys = a.F32(0, "ys", RV, "R*V");
    const float* scores = a.F32(1, "scores", RV, "R*V");
    const int32_t* ts = a.I32(2, "ts", R, "R");
    a.Ids("ts", ts, R, V, true);
    if (a.Has(5)) {
      const float s = static_cast<float>(a.Finite(5, "gradScale"));
      return Napi::Number::New(info.Env(), rnnlm::softmax_xent_forward_grad(ys, scores, ts, s, R, V));
    }
    return Napi::Number::New(info.Env(), rnnlm::softmax_xent_forward(ys, scores, ts, R, V));
  }

  // softmaxCrossEntropyBackward(dx, ys, ts, scale, R, V)
  Value SoftmaxBackward(const CallbackInfo& info) {
    Args a(info, "softmaxCrossEntropyBackward", 6);
    const int R = a.Dim(4, "R"), V = a.Dim(5, "V", 1);
    const int64_t RV = a.Mul("R*V", R, V);
    float* dx = a.F32(0, "dx", RV, "R*V");
    const float* ys = a.F32(1, "ys", RV, "R*V");
    const int32_t* ts = a.I32(2, "ts", R, "R");
    a.Ids("ts", ts, R, V, true);
    const float s = static_cast<float>(a.Finite(3, "scale"));
    rnnlm::softmax_xent_backward(dx, ys, ts, s, R, V);
    return info.Env().Undefined();
  }

  // sgdUpdate(param, grad, lr[, zeroGrad])
  Value SgdUpdate(const CallbackInfo& info) {
    Args a(info, "sgdUpdate", 3, 4);
    const int64_t n = a.F32Length(0, "param");
    float* param = a.F32(0, "param", n, "param.length");
    float* grad = a.F32(1, "grad", n, "param.length");
    const float lr = static_cast<float>(a.Finite(2, "lr"));
    const bool zero_grad = a.Has(3) && a.Bool(3, "zeroGrad");
    rnnlm::sgd_update(param, grad, lr, n, zero_grad);
    return info.Env().Undefined();
  }

  // sumSquares(x) -> number
  Value SumSquares(const CallbackInfo& info) {
    Args a(info, "sumSquares", 1);
    const int64_t n = a.F32Length(0, "x");
    const float* x = a.F32(0, "x", n, "x.length");
    return Napi::Number::New(info.Env(), rnnlm::sum_squares(x, n));
  }

  // sumSquaresRows(x, rows, R, V, D) -> number: the sum of squares of rows rows[0..R) of x [V,D].
  Value SumSquaresRows(const CallbackInfo& info) {
    Args a(info, "sumSquaresRows", 5);
    const int R = a.Dim(2, "R"), V = a.Dim(3, "V"), D = a.Dim(4, "D");
    const float* x = a.F32(0, "x", a.Mul("V*D", V, D), "V*D");
    const int32_t* rows = a.I32(1, "rows", R, "R");
    a.Ids("rows", rows, R, V, false);
    return Napi::Number::New(info.Env(), rnnlm::sum_squares_rows(x, rows, R, D));
  }

  // sgdUpdateRows(param, grad, lr, rows, R, V, D, zeroGrad): sgdUpdate on rows rows[0..R) of param, grad [V,D].
  Value SgdUpdateRows(const CallbackInfo& info) {
    Args a(info, "sgdUpdateRows", 8);
    const int R = a.Dim(4, "R"), V = a.Dim(5, "V"), D = a.Dim(6, "D");
    const int64_t n = a.Mul("V*D", V, D);
    float* param = a.F32(0, "param", n, "V*D");
    float* grad = a.F32(1, "grad", n, "V*D");
    const float lr = static_cast<float>(a.Finite(2, "lr"));
    const int32_t* rows = a.I32(3, "rows", R, "R");
    const bool zero_grad = a.Bool(7, "zeroGrad");
    a.Ids("rows", rows, R, V, false);
    rnnlm::sgd_update_rows(param, grad, lr, rows, R, D, zero_grad);
    return info.Env().Undefined();
  }

  // addSumSquaresRows(y, x, rows, R, V, D, zeroX) -> number: addSumSquares on rows rows[0..R) of y, x [V,D].
  Value AddSumSquaresRows(const CallbackInfo& info) {
    Args a(info, "addSumSquaresRows", 7);
    const int R = a.Dim(3, "R"), V = a.Dim(4, "V"), D = a.Dim(5, "D");
    const int64_t n = a.Mul("V*D", V, D);
    float* y = a.F32(0, "y", n, "V*D");
    float* x = a.F32(1, "x", n, "V*D");
    const int32_t* rows = a.I32(2, "rows", R, "R");
    const bool zero_x = a.Bool(6, "zeroX");
    a.Ids("rows", rows, R, V, false);
    return Napi::Number::New(info.Env(), rnnlm::add_sum_squares_rows(y, x, rows, R, D, zero_x));
  }

  // zero(x)
  Value Zero(const CallbackInfo& info) {
    Args a(info, "zero", 1);
    const int64_t n = a.F32Length(0, "x");
    rnnlm::zero(a.F32(0, "x", n, "x.length"), n);
    return info.Env().Undefined();
  }

  // addSumSquares(y, x[, zeroX]) -> number
  Value AddSumSquares(const CallbackInfo& info) {
    Args a(info, "addSumSquares", 2, 3);
    const int64_t n = a.F32Length(0, "y");
    float* y = a.F32(0, "y", n, "y.length");
    float* x = a.F32(1, "x", n, "y.length");
    const bool zero_x = a.Has(2) && a.Bool(2, "zeroX");
    return Napi::Number::New(info.Env(), rnnlm::add_sum_squares(y, x, n, zero_x));
  }

  // scale(x, s)
  Value Scale(const CallbackInfo& info) {
    Args a(info, "scale", 2);
    const int64_t n = a.F32Length(0, "x");
    float* x = a.F32(0, "x", n, "x.length");
    const float s = static_cast<float>(a.Finite(1, "s"));
    rnnlm::scale(x, s, n);
    return info.Env().Undefined();
  }

  // setBf16(on): this thread's products with their operands rounded to bfloat16 (on) or in float (off).
  Value SetBf16(const CallbackInfo& info) {
    Args a(info, "setBf16", 1);
    rnnlm::set_bf16(a.Bool(0, "on"));
    return info.Env().Undefined();
  }

  Value GetNumThreads(const CallbackInfo& info) {
    Args a(info, "getNumThreads", 0);
    return Napi::Number::New(info.Env(), openblas_get_num_threads());
  }

  // setNumThreads(n): OpenBLAS's thread count for this process.
  Value SetNumThreads(const CallbackInfo& info) {
    Args a(info, "setNumThreads", 1);
    const int n = a.Dim(0, "n", 1);
    if (n > 1024) a.RangeErr("Expected integer in [1, 1024] for n but received " + std::to_string(n));
    openblas_set_num_threads(n);
    return info.Env().Undefined();
  }

  // renumberFile(fd, offset, tokens, table) -> [a, b]: see rnnlm::RenumberFile.
  Value RenumberFile(const CallbackInfo& info) {
    Args a(info, "renumberFile", 4);
    const int fd = a.Dim(0, "fd");
    const double offset = a.SafeInt(1, "offset"), tokens = a.SafeInt(2, "tokens");
    if (std::fmod(offset, 4) != 0) a.RangeErr("Expected a multiple of 4 for offset but received " + std::to_string(offset));
    const int64_t tableLength = a.I32Length(3, "table");
    const int32_t* table = a.I32(3, "table", 0, "table.length");
    struct stat st;
    if (fstat(fd, &st) != 0) a.RangeErr("Expected an open file for fd but received " + std::to_string(fd));
    if (static_cast<double>(st.st_size) < offset + 4 * tokens) {
      a.RangeErr("Expected a file of at least offset + 4 * tokens = " + std::to_string(offset + 4 * tokens) +
                 " bytes for fd but it has " + std::to_string(st.st_size));
    }
    uint32_t ha = 0x811C9DC5u, hb = 0x9E3779B9u;
    const std::string err = rnnlm::RenumberFile(fd, static_cast<uint64_t>(offset), static_cast<uint64_t>(tokens), table,
                                                static_cast<uint64_t>(tableLength), &ha, &hb);
    if (!err.empty()) throw Napi::RangeError::New(info.Env(), err);
    return NumberPair(info.Env(), ha, hb);
  }

  // mpiInit() -> [rank, size]: starts MPI for the process (once; main thread only). An Error when it cannot.
  Value MpiInit(const CallbackInfo& info) {
    Args a(info, "mpiInit", 0);
    int rank = 0, size = 1;
    const std::string err = rnnlm::mpi_init(&rank, &size);
    if (!err.empty()) throw Napi::Error::New(info.Env(), err);
    return NumberPair(info.Env(), rank, size);
  }

  // mpiSumOrdered(data): data summed over the ranks in rank order, in place (see rnnlm::mpi_sum_ordered).
  Value MpiSumOrdered(const CallbackInfo& info) {
    Args a(info, "mpiSumOrdered", 1);
    const int64_t n = a.F32Length(0, "data");
    float* data = a.F32(0, "data", n, "n");
    const std::string err = rnnlm::mpi_sum_ordered(data, n);
    if (!err.empty()) throw Napi::Error::New(info.Env(), err);
    return info.Env().Undefined();
  }

  // mpiAllgather(send, recv): every rank's Float64Array `send` into recv (size * send.length), in rank order.
  Value MpiAllgather(const CallbackInfo& info) {
    Args a(info, "mpiAllgather", 2);
    const int size = rnnlm::mpi_size();
    if (size == 0) throw Napi::Error::New(info.Env(), "MPI is not started (mpiInit first)");
    const Napi::Value sendValue = info[0];
    if (!sendValue.IsTypedArray() || sendValue.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      a.TypeErr("Expected Float64Array for send but received " + Describe(sendValue));
    }
    const int64_t n = static_cast<int64_t>(sendValue.As<Napi::TypedArray>().ElementLength());
    const int64_t total = a.Mul("size * send.length", size, n);
    const double* send = a.F64(0, "send", n, "n");
    double* recv = a.F64(1, "recv", total, "size * send.length");
    if (static_cast<int64_t>(info[1].As<Napi::TypedArray>().ElementLength()) != total) {
      a.RangeErr("Expected Float64Array of length " + std::to_string(total) + " (size * send.length) for recv but received length " +
                 std::to_string(info[1].As<Napi::TypedArray>().ElementLength()));
    }
    if (n == 0) return info.Env().Undefined();
    const std::string err = rnnlm::mpi_allgather(send, a.Mul("send bytes", n, 8), recv);
    if (!err.empty()) throw Napi::Error::New(info.Env(), err);
    return info.Env().Undefined();
  }

  // mpiSetTimeout(seconds): how long a collective call waits for the other ranks before it throws.
  Value MpiSetTimeout(const CallbackInfo& info) {
    Args a(info, "mpiSetTimeout", 1);
    const double seconds = a.Finite(0, "seconds");
    if (!(seconds > 0)) a.RangeErr("Expected positive number for seconds but received " + info[0].ToString().Utf8Value());
    rnnlm::mpi_set_timeout(seconds);
    return info.Env().Undefined();
  }

  Value MpiFinalize(const CallbackInfo& info) {
    Args a(info, "mpiFinalize", 0);
    rnnlm::mpi_finalize();
    return info.Env().Undefined();
  }

  Value Info(const CallbackInfo& info) {
    Args a(info, "info", 0);
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("corename", Napi::String::New(env, openblas_get_corename()));
    o.Set("config", Napi::String::New(env, openblas_get_config()));
    o.Set("numThreads", Napi::Number::New(env, openblas_get_num_threads()));
    o.Set("simd", Napi::String::New(env, rnnlm::simd_level()));
    o.Set("avx512bf16", Napi::Boolean::New(env, rnnlm::cpu_has_avx512_bf16()));
    o.Set("dnnl", Napi::Boolean::New(env, rnnlm::dnnl_available()));
    o.Set("mpi", Napi::String::New(env, rnnlm::mpi_version()));
    return o;
  }
};

}  // namespace

NODE_API_ADDON(RnnlmAddon)
