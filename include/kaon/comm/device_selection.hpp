#pragma once
// Which device each rank of a job computes on: one GPU per rank, chosen by node-local rank
// (localRank % GPUs this process sees), so `mpirun -np 8` on a node with 8 GPUs, or srun with
// --gpus-per-task (each rank sees one GPU), both give every rank its own GPU.
#include <optional>
#include <string>

#include "kaon/comm/communicator.hpp"

namespace kaon::comm {

enum class DeviceRequest { Cpu, Cuda, Auto };
DeviceRequest deviceRequestFromName(const std::string& name);  // "cpu", "cuda", "auto"
const char* deviceRequestName(DeviceRequest r);

struct DeviceChoice {
  bool allowSharedGpus = false;  // permit several ranks of a node on one GPU (no NCCL then)
};

// Collective over `comm` (every rank calls it; all ranks raise the same error together).
//   Cpu:  the CPU.
//   Cuda: GPU localRank % deviceCount. Error naming the rank when a rank sees no GPU (or the
//         build has no CUDA), and when two ranks of a node would share a GPU unless allowed.
//   Auto: Cuda when every rank sees a GPU, else the CPU on every rank.
Device selectRankDevice(DeviceRequest request, Communicator& comm, DeviceChoice choice = {});

// Collective: a description of two ranks of one node using the same physical GPU (by UUID), or
// nothing when every rank's `device` is its own.
std::optional<std::string> sharedGpuConflict(Communicator& comm, Device device);
// Collective: throws sharedGpuConflict's description (NCCL needs distinct GPUs).
void requireDistinctGpus(Communicator& comm, Device device);

}  // namespace kaon::comm
