// Message passing between processes for data-parallel training (Open MPI), where the addon was built with it
// (binding.gyp finds the ompi-c package: RNNLM_MPI). Without it every function here reports that MPI is not built.
// MPI belongs to the process: call these from its main JavaScript thread only.
#pragma once

#include <cstdint>
#include <string>

namespace rnnlm {

// Whether the addon was built with MPI, and the library's version ("" when not built).
bool mpi_available();
std::string mpi_version();

// Starts MPI once per process (later calls return the same world): this process's rank and the number of ranks.
// Returns "" or why it failed.
std::string mpi_init(int* rank, int* size);

// data[0, n) summed over the ranks in place, each element added in rank order (rank 0's first): the same bits on
// every rank whatever the network did. Returns "" or why it failed.
std::string mpi_sum_ordered(float* data, int64_t n);

// Every rank's `bytes` bytes of `send`, one after the other in rank order, into recv (size * bytes bytes).
std::string mpi_allgather(const void* send, int64_t bytes, void* recv);

// How long a collective call waits for the other ranks before it returns an error (default 60 s).
void mpi_set_timeout(double seconds);

// The number of ranks once started (0 before).
int mpi_size();

// Ends MPI for the process (after the last collective call); nothing when it was not started.
void mpi_finalize();

}  // namespace rnnlm
