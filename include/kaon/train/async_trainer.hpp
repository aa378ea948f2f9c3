#pragma once
// Master/worker training (rank 0 is the master, ranks 1..W-1 are workers):
//
//  Downpour SGD (Dean et al. 2012, as in mpi_learn): the master holds the parameters and the
//  optimizer. Each worker loops: compute a gradient on its own batch, send it, receive the
//  reply (fresh weights every `pullEvery` of its steps). The master applies gradients in
//  arrival order; an update's staleness is how many master updates happened since the
//  worker's weights were current. Optionally lr / staleness.
//
//  Asynchronous EASGD (Zhang, Choromanska, LeCun 2015): workers train locally with their own
//  optimizer (momentum: EAMSGD); every `tau` of its steps a worker sends its weights x_i, the
//  master moves the center c += alpha (x_i - c) and replies with that same elastic difference,
//  which the worker subtracts: x_i -= alpha (x_i - c).
//
// Protocol, per worker message: header {kind, version, steps, lossSum, samples} then the
// payload (gradient or weights); the master answers {command, version} and, for WEIGHTS or
// ELASTIC, a payload. When the update budget (epochs x steps per epoch) is spent, each
// worker's next message is answered with STOP, so no message is left in flight; the master
// then validates, checkpoints and every rank returns.
//
// A GPU model: weights, gradients and elastic differences travel through page-locked host
// buffers (staged communicator), or directly where the MPI library is CUDA-aware.
#include "kaon/train/trainer.hpp"

namespace kaon::train {

struct AsyncOptions {
  enum class Mode { Downpour, Easgd } mode = Mode::Downpour;
  int pullEvery = 1;             // Downpour: worker refreshes its weights every n of its steps
  bool stalenessScaledLr = false;  // Downpour: divide the learning rate by max(1, staleness)
  int tau = 4;                   // EASGD: worker steps between exchanges
  double alpha = 0.0;            // EASGD moving rate; 0 means 0.9 / workers (the paper's beta = 0.9)
};

struct AsyncStats {
  std::int64_t updates = 0;
  double meanStaleness = 0;
  std::int64_t maxStaleness = 0;
};

class AsyncTrainer {
 public:
  // optimizer: the master's (Downpour) or each worker's local one (EASGD). The communicator
  // must have at least 2 ranks. options.batchSize is the per-worker batch.
  AsyncTrainer(nn::Model& model, optim::Optimizer& optimizer, std::function<double(std::int64_t)> learningRate,
               const data::Dataset& train, const data::Dataset* validation, TrainerOptions options,
               AsyncOptions async, comm::Communicator& comm);
  // Master: results per epoch (validation of the master's / center's weights). Workers: empty.
  std::vector<EpochResult> fit();
  const AsyncStats& stats() const { return stats_; }
  std::int64_t stepsPerEpoch() const { return stepsPerEpoch_; }

 private:
  std::vector<EpochResult> runMaster();
  void runWorker();
  std::map<std::string, double> evaluate();

  nn::Model& model_;
  optim::Optimizer& optimizer_;
  std::function<double(std::int64_t)> learningRate_;
  const data::Dataset& train_;
  const data::Dataset* validation_;
  TrainerOptions options_;
  AsyncOptions async_;
  static comm::Communicator& deviceCapable(comm::Communicator& comm, Device device,
                                           std::unique_ptr<comm::Communicator>& owned);
  std::unique_ptr<comm::Communicator> stagedComm_;  // GPU model over plain MPI; before comm_
  comm::Communicator& comm_;
  std::int64_t stepsPerEpoch_ = 0;
  AsyncStats stats_;
};

}  // namespace kaon::train
