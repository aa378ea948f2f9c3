#include "completion_wait.hpp"

#include <thread>

#include "kaon/core/error.hpp"

namespace kaon::comm::detail {

void waitForCompletion(const CompletionProbes& probes, double timeoutSeconds,
                       std::chrono::steady_clock::time_point started, int rank, const std::string& what,
                       const char* timeoutKey) {
  using Clock = std::chrono::steady_clock;
  auto fail = [&](const std::string& message) {
    if (probes.abort) probes.abort();
    throw Error(message);
  };
  // Latency matters for small buckets: spin for the first millisecond, then sleep between polls.
  const auto spinUntil = Clock::now() + std::chrono::milliseconds(1);
  for (;;) {
    if (probes.done()) return;
    if (probes.asyncError) {
      std::string err = probes.asyncError();
      if (!err.empty())
        fail(fmt::format("rank {}: {} failed: {}; the communicator was aborted", rank, what, err));
    }
    const auto now = Clock::now();
    const double waited = std::chrono::duration<double>(now - started).count();
    if (timeoutSeconds > 0 && waited > timeoutSeconds)
      fail(fmt::format("rank {}: {} did not complete within {:g} s ({}): a peer rank has probably died or "
                       "stalled; the communicator was aborted", rank, what, timeoutSeconds, timeoutKey));
    if (now < spinUntil)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

}  // namespace kaon::comm::detail
