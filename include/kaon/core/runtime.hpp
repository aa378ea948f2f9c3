#pragma once
// Process-wide runtime facts: CPU threads for kernels and the CUDA devices visible.
namespace kaon {

// Threads used by CPU kernels (OpenMP and Eigen). Default: the cores this process may use.
void setNumThreads(int threads);  // threads <= 0 resets to the default
int numThreads();

// Whether this build has the CUDA backend, and how many devices it sees (0 without a GPU).
bool cudaBuilt();
int cudaDeviceCount();

}  // namespace kaon
