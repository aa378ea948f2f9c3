#include "kaon/comm/device_selection.hpp"

#include <unistd.h>

#include <functional>

#include "kaon/core/runtime.hpp"

namespace kaon::comm {
namespace {

std::string hostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

// A 52-bit fingerprint (exact in a double, so it travels through allgather(double)).
double fingerprint(const std::string& s) {
  return static_cast<double>(std::hash<std::string>{}(s) & ((std::uint64_t{1} << 52) - 1));
}

}  // namespace

DeviceRequest deviceRequestFromName(const std::string& name) {
  if (name == "cpu") return DeviceRequest::Cpu;
  if (name == "cuda") return DeviceRequest::Cuda;
  if (name == "auto") return DeviceRequest::Auto;
  KAON_FAIL("unknown device '{}' (expected cpu, cuda or auto)", name);
}

const char* deviceRequestName(DeviceRequest r) {
  switch (r) {
    case DeviceRequest::Cpu: return "cpu";
    case DeviceRequest::Cuda: return "cuda";
    case DeviceRequest::Auto: return "auto";
  }
  return "?";
}

std::optional<std::string> sharedGpuConflict(Communicator& comm, Device device) {
  const std::string host = hostName();
  const std::string uuid = device.isCuda() ? cudaDeviceUuid(device.index) : std::string();
  // CPU ranks (or a world of one) share nothing; still every rank takes part in the collective.
  std::vector<double> all = comm.allgather(device.isCuda() ? fingerprint(host + "/" + uuid) : -1.0 - comm.rank());
  for (int r = 0; r < comm.size(); ++r)
    for (int q = 0; q < r; ++q)
      if (all[r] >= 0 && all[r] == all[q]) {
        if (r != comm.rank() && q != comm.rank()) return fmt::format("ranks {} and {} use the same GPU", q, r);
        return fmt::format("ranks {} and {} would share one GPU ({}, {} on host {}): this node runs {} ranks and "
                           "this process sees {} GPU(s)",
                           q, r, uuid, device.str(), host, comm.localSize(), cudaDeviceCount());
      }
  return std::nullopt;
}

void requireDistinctGpus(Communicator& comm, Device device) {
  if (auto conflict = sharedGpuConflict(comm, device))
    KAON_FAIL("{}; give every rank its own GPU (at most one rank per GPU on each node), or allow sharing "
              "(gpu.share: true), whose GPU buffers then go through MPI and host memory instead of NCCL",
              *conflict);
}

Device selectRankDevice(DeviceRequest request, Communicator& comm, DeviceChoice choice) {
  if (request == DeviceRequest::Cpu) return Device::cpu();
  const int visible = cudaBuilt() ? cudaDeviceCount() : 0;
  std::vector<double> counts = comm.allgather(static_cast<double>(visible));
  for (int r = 0; r < comm.size(); ++r) {
    if (counts[r] > 0) continue;
    if (request == DeviceRequest::Auto) return Device::cpu();  // every rank sees the same counts
    KAON_FAIL("device: cuda was requested, but rank {} {}; use device: cpu (or auto)", r,
              !cudaBuilt() ? "runs a Kaon build without the CUDA backend"
                           : "sees no CUDA device (no GPU, no driver, or CUDA_VISIBLE_DEVICES hides them)");
  }
  Device device = Device::cuda(comm.localRank() % visible);
  if (!choice.allowSharedGpus) requireDistinctGpus(comm, device);
  return device;
}

}  // namespace kaon::comm
