#include "mpi.h"

#if defined(RNNLM_MPI)
#include <dlfcn.h>
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace rnnlm {

namespace {

// MPI's state in this process, in one object: MPI is started once per process, and only its main thread calls it.
struct World {
  bool started = false;
  int rank = 0, size = 1;
  // How long a collective call may wait for the other ranks before it gives up (mpi_set_timeout).
  double timeout_s = 60;
  // Set when a collective call gave up waiting: its request is still pending, so MPI is not called again.
  bool abandoned = false;
  // A copy of the world for the messages that find out which ranks stopped answering (missing_ranks), apart from
  // the collective calls that may still be pending.
  MPI_Comm probe = MPI_COMM_NULL;
  // mpi_sum_ordered's pieces of the chunk this rank sums, grown when needed.
  std::vector<float> pieces;
};

World& world() {
  static World w;
  return w;
}

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

// After a call timed out: every rank still running times out too and sends each other rank a message; the ranks
// whose message does not come within a grace period are the ones that stopped or cannot be reached. "rank 1" or
// "ranks 1, 3", or "" when every rank answered.
std::string missing_ranks(double grace_s) {
  const int R = world().size;
  std::vector<int> heard(R, -1), token(R, world().rank);
  std::vector<MPI_Request> receives(R, MPI_REQUEST_NULL);
  for (int r = 0; r < R; r++) {
    if (r == world().rank) continue;
    MPI_Request send;
    MPI_Isend(&token[r], 1, MPI_INT, r, 0, world().probe, &send);
    MPI_Request_free(&send);
    MPI_Irecv(&heard[r], 1, MPI_INT, r, 0, world().probe, &receives[r]);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_s);
  int done = 0;
  while (!done && std::chrono::steady_clock::now() < deadline) MPI_Testall(R, receives.data(), &done, MPI_STATUSES_IGNORE);
  std::string names;
  int count = 0;
  for (int r = 0; r < R; r++) {
    if (r == world().rank || heard[r] == r) continue;
    names += (count++ > 0 ? ", " : "") + std::to_string(r);
  }
  return count == 0 ? "" : (count == 1 ? "rank " : "ranks ") + names;
}

// Waits for a collective call's request, giving up after the world's timeout_s: a rank that stopped or a network that went
// down must end the run (the caller reports it and leaves; mpirun then stops every rank) rather than hang it. The
// error names the ranks that did not answer.
std::string wait_for(MPI_Request* request, const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(world().timeout_s);
  for (unsigned polls = 0;; polls++) {
    int done = 0;
    const int rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return std::string(what) + " failed: " + error_text(rc);
    if (done) return "";
    if (polls % 1024 == 0 && std::chrono::steady_clock::now() > deadline) {
      world().abandoned = true;
      const std::string missing = missing_ranks(std::min(10.0, world().timeout_s));
      char seconds[32];
      snprintf(seconds, sizeof seconds, "%g", world().timeout_s);
      if (missing.empty()) return std::string(what) + ": no answer from the other ranks for " + seconds + " s";
      return missing + " did not answer for " + seconds + " s (stopped, or the network to it is down)";
    }
  }
}

// Why no collective call can be made now, or "".
std::string unusable() {
  if (!world().started) return "MPI is not started (mpiInit first)";
  if (world().abandoned) return "MPI stopped at an earlier call that the other ranks did not answer";
  return "";
}

}  // namespace

bool mpi_available() { return true; }

void mpi_set_timeout(double seconds) { world().timeout_s = seconds; }

std::string mpi_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string v(text, static_cast<size_t>(length));
  const size_t end = v.find_first_of(",\n");
  return end == std::string::npos ? v : v.substr(0, end);
}

std::string mpi_init(int* rank, int* size) {
  if (!world().started) {
    promote_libmpi();
    int provided = 0;
    const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return "MPI_Init_thread failed: " + error_text(rc);
    // Errors come back as codes (and become JavaScript errors) rather than ending the process here.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world().rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world().size);
    MPI_Comm_dup(MPI_COMM_WORLD, &world().probe);
    world().started = true;
  }
  *rank = world().rank;
  *size = world().size;
  return "";
}

// A reduce-scatter then an allgather, as a ring allreduce moves: each rank receives its chunk of the array from
// every rank and adds the R pieces in rank order, then every rank gathers the summed chunks. Each rank sends and
// receives 2 (R - 1) / R of the array (a gather of every array would be R - 1 times it), and the order of the sum
// is fixed, so the bits do not depend on the network or on which rank owns which chunk.
std::string mpi_sum_ordered(float* data, int64_t n) {
  if (const std::string why = unusable(); !why.empty()) return why;
  if (n == 0 || world().size == 1) return "";
  if (n > INT32_MAX) return "more floats than one MPI call carries (2^31 - 1)";
  const int R = world().size;
  std::vector<int> counts(R), displs(R);
  for (int k = 0; k < R; k++) {
    const int64_t from = n * k / R, to = n * (k + 1) / R;
    displs[k] = static_cast<int>(from);
    counts[k] = static_cast<int>(to - from);
  }
  const int mine = counts[world().rank];
  std::vector<int> recvCounts(R, mine), recvDispls(R);
  for (int r = 0; r < R; r++) recvDispls[r] = r * mine;
  std::vector<float>& pieces = world().pieces;
  pieces.resize(static_cast<size_t>(mine) * static_cast<size_t>(R));
  MPI_Request request;
  int rc = MPI_Ialltoallv(data, counts.data(), displs.data(), MPI_FLOAT, pieces.data(), recvCounts.data(),
                          recvDispls.data(), MPI_FLOAT, MPI_COMM_WORLD, &request);
  if (rc != MPI_SUCCESS) return "MPI_Ialltoallv failed: " + error_text(rc);
  std::string err = wait_for(&request, "MPI_Ialltoallv");
  if (!err.empty()) return err;
  float* chunk = data + displs[world().rank];
  for (int i = 0; i < mine; i++) {
    float s = pieces[static_cast<size_t>(i)];
    for (int r = 1; r < R; r++) s += pieces[static_cast<size_t>(r) * static_cast<size_t>(mine) + static_cast<size_t>(i)];
    chunk[i] = s;
  }
  rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, counts.data(), displs.data(), MPI_FLOAT, MPI_COMM_WORLD,
                       &request);
  if (rc != MPI_SUCCESS) return "MPI_Iallgatherv failed: " + error_text(rc);
  return wait_for(&request, "MPI_Iallgatherv");
}

std::string mpi_allgather(const void* send, int64_t bytes, void* recv) {
  if (const std::string why = unusable(); !why.empty()) return why;
  if (bytes > INT32_MAX) return "more bytes than one MPI call carries (2^31 - 1)";
  MPI_Request request;
  const int rc = MPI_Iallgather(send, static_cast<int>(bytes), MPI_BYTE, recv, static_cast<int>(bytes), MPI_BYTE,
                                MPI_COMM_WORLD, &request);
  if (rc != MPI_SUCCESS) return "MPI_Iallgather failed: " + error_text(rc);
  return wait_for(&request, "MPI_Iallgather");
}

int mpi_size() { return world().started ? world().size : 0; }

void mpi_finalize() {
  if (!world().started || world().abandoned) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (world().probe != MPI_COMM_NULL) MPI_Comm_free(&world().probe);
  MPI_Finalize();
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
void mpi_set_timeout(double) {}
void mpi_finalize() {}

}  // namespace rnnlm

#endif
