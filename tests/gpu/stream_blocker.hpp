#pragma once
// Test helper: holds a CUDA stream still (a host function on it waits for a flag), to show that
// work on another stream waits for it, and to make a request that never completes. A releaser
// thread frees the stream after `limit` whatever happens, so a test can fail but never hang.
#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace kaon::gputest {

class StreamBlocker {
 public:
  StreamBlocker(cudaStream_t stream, std::chrono::milliseconds limit) {
    cudaLaunchHostFunc(stream, &StreamBlocker::hold, this);
    releaser_ = std::thread([this, limit] {
      const auto end = std::chrono::steady_clock::now() + limit;
      while (!released_.load() && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      released_.store(true);
    });
  }
  ~StreamBlocker() {
    release();
    releaser_.join();
    while (!finished_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the host function returned
  }
  void release() { released_.store(true); }

 private:
  static void CUDART_CB hold(void* self) {
    auto* b = static_cast<StreamBlocker*>(self);
    while (!b->released_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    b->finished_.store(true);
  }
  std::atomic<bool> released_{false}, finished_{false};
  std::thread releaser_;
};

}  // namespace kaon::gputest
