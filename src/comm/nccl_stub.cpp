// Built when NCCL is not found: the NCCL communicator fails loudly; GPU buffers can still travel
// through the staged (host) communicator.
#include "kaon/comm/communicator.hpp"

namespace kaon::comm {

bool ncclBuilt() { return false; }

std::unique_ptr<Communicator> makeNcclCommunicator(Communicator&, Device, NcclOptions) {
  throw NotImplemented("the NCCL communicator in this Kaon build, which was configured without NCCL (it is looked "
                       "for beside the CUDA toolkit, or under NCCL_ROOT); set gpu.communicator: mpi to move GPU "
                       "buffers through host memory instead");
}

}  // namespace kaon::comm
