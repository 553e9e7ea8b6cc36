#include "mpi.h"

#if defined(RNNLM_MPI)
#include <dlfcn.h>
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

#include <vector>

namespace rnnlm {

namespace {

bool g_started = false;
int g_rank = 0, g_size = 1;

// Open MPI loads its components with dlopen and needs libmpi's symbols global, but Node opened this addon (and
// with it libmpi) with RTLD_LOCAL: open libmpi again, RTLD_GLOBAL, before MPI_Init.
void promote_libmpi() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&MPI_Init), &info) != 0 && info.dli_fname != nullptr) {
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  }
}

std::string error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

}  // namespace

bool mpi_available() { return true; }

std::string mpi_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string v(text, static_cast<size_t>(length));
  const size_t end = v.find_first_of(",\n");
  return end == std::string::npos ? v : v.substr(0, end);
}

std::string mpi_init(int* rank, int* size) {
  if (!g_started) {
    promote_libmpi();
    int provided = 0;
    const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return "MPI_Init_thread failed: " + error_text(rc);
    // Errors come back as codes (and become JavaScript errors) rather than ending the process here.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_started = true;
  }
  *rank = g_rank;
  *size = g_size;
  return "";
}

// A reduce-scatter then an allgather, as a ring allreduce moves: each rank receives its chunk of the array from
// every rank and adds the R pieces in rank order, then every rank gathers the summed chunks. Each rank sends and
// receives 2 (R - 1) / R of the array (a gather of every array would be R - 1 times it), and the order of the sum
// is fixed, so the bits do not depend on the network or on which rank owns which chunk.
std::string mpi_sum_ordered(float* data, int64_t n) {
  if (!g_started) return "MPI is not started (mpiInit first)";
  if (n == 0 || g_size == 1) return "";
  if (n > INT32_MAX) return "more floats than one MPI call carries (2^31 - 1)";
  const int R = g_size;
  std::vector<int> counts(R), displs(R);
  for (int k = 0; k < R; k++) {
    const int64_t from = n * k / R, to = n * (k + 1) / R;
    displs[k] = static_cast<int>(from);
    counts[k] = static_cast<int>(to - from);
  }
  const int mine = counts[g_rank];
  std::vector<int> recvCounts(R, mine), recvDispls(R);
  for (int r = 0; r < R; r++) recvDispls[r] = r * mine;
  static std::vector<float> pieces;
  pieces.resize(static_cast<size_t>(mine) * static_cast<size_t>(R));
  int rc = MPI_Alltoallv(data, counts.data(), displs.data(), MPI_FLOAT, pieces.data(), recvCounts.data(),
                         recvDispls.data(), MPI_FLOAT, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return "MPI_Alltoallv failed: " + error_text(rc);
  float* chunk = data + displs[g_rank];
  for (int i = 0; i < mine; i++) {
    float s = pieces[static_cast<size_t>(i)];
    for (int r = 1; r < R; r++) s += pieces[static_cast<size_t>(r) * static_cast<size_t>(mine) + static_cast<size_t>(i)];
    chunk[i] = s;
  }
  rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, counts.data(), displs.data(), MPI_FLOAT, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return "MPI_Allgatherv failed: " + error_text(rc);
  return "";
}

std::string mpi_allgather(const void* send, int64_t bytes, void* recv) {
  if (!g_started) return "MPI is not started (mpiInit first)";
  if (bytes > INT32_MAX) return "more bytes than one MPI call carries (2^31 - 1)";
  const int rc = MPI_Allgather(send, static_cast<int>(bytes), MPI_BYTE, recv, static_cast<int>(bytes), MPI_BYTE, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return "MPI_Allgather failed: " + error_text(rc);
  return "";
}

int mpi_size() { return g_started ? g_size : 0; }

void mpi_finalize() {
  if (!g_started) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace rnnlm

#else

namespace rnnlm {

bool mpi_available() { return false; }
std::string mpi_version() { return ""; }
std::string mpi_init(int*, int*) { return "this rnnlm was built without MPI (install libopenmpi-dev and run npm run build:native)"; }
std::string mpi_sum_ordered(float*, int64_t) { return "this rnnlm was built without MPI"; }
std::string mpi_allgather(const void*, int64_t, void*) { return "this rnnlm was built without MPI"; }
int mpi_size() { return 0; }
void mpi_finalize() {}

}  // namespace rnnlm

#endif
