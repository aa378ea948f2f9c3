#pragma once
// Message tags, kinds and header layouts of master/worker training (async_trainer.hpp).
// Kinds and commands travel as float64 in the headers.
namespace kaon::train::async {

// Worker <-> its server (the master, or its sub-master).
constexpr int kTagHeader = 101, kTagPayload = 102, kTagReply = 103, kTagReplyPayload = 104;
// Sub-master <-> top master (hierarchical Downpour): other tags, so a server's any-source
// receive of worker messages never takes an exchange and vice versa.
constexpr int kTagUpHeader = 111, kTagUpPayload = 112, kTagDownReply = 113, kTagDownPayload = 114;

constexpr double kGradient = 1, kWeights = 2;              // worker message kinds
constexpr double kChange = 3, kLastChange = 4;             // sub-master message kinds
constexpr double kStop = 0, kContinue = 1, kSendWeights = 2, kElastic = 3;  // reply commands

constexpr int kHeaderSize = 5;    // kind, version, steps, lossSum, samples
constexpr int kUpHeaderSize = 8;  // kind, top version at last sync, updates, lossSum, samples,
                                  // staleness sum, max staleness, staleness samples
constexpr int kReplySize = 2;     // command, version

}  // namespace kaon::train::async
