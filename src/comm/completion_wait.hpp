#pragma once
// Waiting for asynchronous communication without ever hanging silently: the one poll loop of
// the GPU communicators (NCCL requests, barriers, start-up), kept free of CUDA and NCCL so that
// its timeout and error paths are unit-tested on machines without a GPU.
#include <chrono>
#include <functional>
#include <string>

namespace kaon::comm::detail {

struct CompletionProbes {
  std::function<bool()> done;               // true once the operation has completed; may throw
  std::function<std::string()> asyncError;  // non-empty: the communicator has failed (the message)
  std::function<void()> abort;              // called once before an error is raised (may be empty)
};

// Polls `done` (spinning briefly, then sleeping ~100 us between polls) until it returns true.
// Checks `asyncError` between polls and the clock against `timeoutSeconds` (<= 0: no limit),
// measured from `started`. On an asynchronous error or the timeout, calls `abort` and throws
// kaon::Error: "rank R: <what> ..." naming the cause. `timeoutKey` names the setting to raise.
void waitForCompletion(const CompletionProbes& probes, double timeoutSeconds,
                       std::chrono::steady_clock::time_point started, int rank, const std::string& what,
                       const char* timeoutKey = "trainer.stall_timeout");

}  // namespace kaon::comm::detail
