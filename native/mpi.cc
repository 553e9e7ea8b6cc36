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

std::string mpi_sum_ordered(float* data, int64_t n) {
  if (!g_started) return "MPI is not started (mpiInit first)";
  if (n == 0 || g_size == 1) return "";
  if (n > INT32_MAX) return "more floats than one MPI call carries (2^31 - 1)";
  std::vector<float> all(static_cast<size_t>(n) * static_cast<size_t>(g_size));
  const int count = static_cast<int>(n);
  const int rc = MPI_Allgather(data, count, MPI_FLOAT, all.data(), count, MPI_FLOAT, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return "MPI_Allgather failed: " + error_text(rc);
  for (int64_t i = 0; i < n; i++) {
    float s = all[static_cast<size_t>(i)];
    for (int r = 1; r < g_size; r++) s += all[static_cast<size_t>(r) * static_cast<size_t>(n) + static_cast<size_t>(i)];
    data[i] = s;
  }
  return "";
}

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
void mpi_finalize() {}

}  // namespace rnnlm

#endif
