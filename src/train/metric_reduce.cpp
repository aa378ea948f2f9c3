#include <algorithm>

#include "kaon/train/metrics.hpp"

namespace kaon::train {
namespace {

// Concatenation of every rank's vector, in rank order (sizes may differ).
std::vector<float> gatherVariable(const std::vector<float>& mine, comm::Communicator& comm) {
  std::vector<double> counts = comm.allgather(static_cast<double>(mine.size()));
  const auto largest = static_cast<std::int64_t>(*std::max_element(counts.begin(), counts.end()));
  if (largest == 0) return {};
  Tensor send = Tensor::zeros(Shape{largest});
  std::copy(mine.begin(), mine.end(), send.data<float>());
  Tensor all = Tensor::empty(Shape{largest * static_cast<std::int64_t>(comm.size())});
  comm.allgather(send, all);
  std::vector<float> out;
  for (int r = 0; r < comm.size(); ++r) {
    const float* block = all.data<float>() + r * largest;
    out.insert(out.end(), block, block + static_cast<std::int64_t>(counts[r]));
  }
  return out;
}

}  // namespace

void reduceMetrics(MetricAccumulator& metrics, comm::Communicator& comm) {
  if (comm.size() == 1) return;
  MetricAccumulator::State& s = metrics.mutableState();
  std::vector<double> sums = comm.allreduce(
      {s.lossSum, s.weightSum, static_cast<double>(s.correct), static_cast<double>(s.count)}, comm::ReduceOp::Sum);
  s.lossSum = sums[0];
  s.weightSum = sums[1];
  s.correct = static_cast<std::int64_t>(sums[2]);
  s.count = static_cast<std::int64_t>(sums[3]);
  std::vector<double> reg = comm.allreduce({s.errSum, s.absErrSum, s.sqErrSum, static_cast<double>(s.elements),
                                            s.ratioSum, s.ratioSqSum, static_cast<double>(s.ratioCount)},
                                           comm::ReduceOp::Sum);
  s.errSum = reg[0], s.absErrSum = reg[1], s.sqErrSum = reg[2], s.elements = static_cast<std::int64_t>(reg[3]);
  s.ratioSum = reg[4], s.ratioSqSum = reg[5], s.ratioCount = static_cast<std::int64_t>(reg[6]);
  // max(-min) and max: one Max reduction for both ends of the target range.
  std::vector<double> ends = comm.allreduce({-s.targetMin, s.targetMax}, comm::ReduceOp::Max);
  s.targetMin = -ends[0], s.targetMax = ends[1];
  s.scores = gatherVariable(s.scores, comm);
  s.labels = gatherVariable(s.labels, comm);
}

}  // namespace kaon::train
