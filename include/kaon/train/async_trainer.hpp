#pragma once
// Master/worker training (rank 0 is the master, ranks 1..W-1 are workers):
//
//  Downpour SGD (Dean et al. 2012, as in mpi_learn): the master holds the parameters and the
//  optimizer. Each worker loops: compute a gradient on its own batch, send it, receive the
//  reply (fresh weights every `pullEvery` of its steps). The master applies gradients in
//  arrival order; an update's staleness is how many master updates happened since the
//  worker's weights were current. Optionally lr / staleness.
//
//  Hierarchical Downpour (`masters` = k > 1, as mpi_learn's hierarchical mode): rank 0 is the
//  top master, ranks 1..k are sub-masters, the other ranks workers; worker j (0-based among
//  workers) belongs to sub-master 1 + j % k. Each sub-master serves its group exactly like a
//  Downpour master (own copy of the weights, own optimizer) and every `exchangeEvery` of its
//  updates sends the top master its accumulated change delta = x_s - x_s(last sync); the top
//  master adds it, x_top += delta, and replies with x_top, which the sub-master adopts (its
//  optimizer state stays). Staleness is tracked at both levels. The update budget is split
//  among the groups in proportion to their workers, so exactly the flat budget is applied.
//
//  Asynchronous EASGD (Zhang, Choromanska, LeCun 2015): workers train locally with their own
//  optimizer (momentum: EAMSGD); every `tau` of its steps a worker sends its weights x_i, the
//  master moves the center c += alpha (x_i - c) and replies with that same elastic difference,
//  which the worker subtracts: x_i -= alpha (x_i - c).
//
// Protocol, per worker message: header {kind, version, steps, lossSum, samples} then the
// payload (gradient or weights); the server answers {command, version} and, for WEIGHTS or
// ELASTIC, a payload. When the update budget (epochs x steps per epoch) is spent, each
// worker's next message is answered with STOP, so no message is left in flight; sub-masters
// then send their last change and get STOP from the top master; every rank meets at a final
// barrier. The (top) master validates at each epoch's worth of updates and checkpoints.
//
// Checkpoints (rank 0) hold the master's weights (the center for EASGD), its optimizer state,
// the strategy, rank count, update counter, staleness statistics and each worker's accepted
// steps, from which a resumed worker finds its place in its data shard. A resumed worker
// starts from the master's weights (EASGD: the center) with fresh local optimizer state.
//
// A GPU model: weights, gradients and elastic differences travel through page-locked host
// buffers (staged communicator), or directly where the MPI library is CUDA-aware.
#include "kaon/train/trainer.hpp"

namespace kaon::train {

struct AsyncOptions {
  enum class Mode { Downpour, Easgd } mode = Mode::Downpour;
  int pullEvery = 1;             // Downpour: worker refreshes its weights every n of its steps
  bool stalenessScaledLr = false;  // Downpour: divide the learning rate by max(1, staleness)
  int masters = 1;               // Downpour: 1 = one master; k > 1 = top master + k sub-masters
  int exchangeEvery = 8;         // hierarchical: sub-master updates between exchanges with the top
  int tau = 4;                   // EASGD: worker steps between exchanges
  double alpha = 0.0;            // EASGD moving rate; 0 means 0.9 / workers (the paper's beta = 0.9)
};

struct AsyncStats {
  std::int64_t updates = 0;
  double meanStaleness = 0;
  std::int64_t maxStaleness = 0;
  // Hierarchical: exchanges of sub-masters with the top master and their staleness (top
  // master versions since the sub-master's last sync).
  std::int64_t exchanges = 0;
  double meanExchangeStaleness = 0;
  std::int64_t maxExchangeStaleness = 0;
};

class AsyncTrainer {
 public:
  // optimizer: the master's (Downpour) or each worker's local one (EASGD). The communicator
  // must have at least 2 ranks. options.batchSize is the per-worker batch.
  AsyncTrainer(nn::Model& model, optim::Optimizer& optimizer, std::function<double(std::int64_t)> learningRate,
               const data::Dataset& train, const data::Dataset* validation, TrainerOptions options,
               AsyncOptions async, comm::Communicator& comm);
  ~AsyncTrainer();
  // Collective: continues from a checkpoint written by a run of the same strategy and rank count.
  void resumeFrom(const std::string& checkpointPath);
  // Master: results per epoch (validation of the master's / center's weights). Others: empty.
  std::vector<EpochResult> fit();
  bool interrupted() const { return interrupted_; }
  const AsyncStats& stats() const { return stats_; }
  std::int64_t stepsPerEpoch() const { return stepsPerEpoch_; }
  std::int64_t updates() const { return updates_; }  // the master's update counter
  std::string strategyName() const;
  std::string checkpointPath() const;  // <dir>/checkpoint.h5 (empty without a directory)

 private:
  enum class Role { Master, TopMaster, SubMaster, Worker };
  struct Epochs;  // the master's per-epoch bookkeeping (async_master.cpp)
  Role role() const;
  int serverOf(int workerRank) const;  // the rank a worker talks to
  int firstWorker() const { return async_.masters > 1 ? async_.masters + 1 : 1; }
  std::int64_t groupBudget(int subMaster) const;
  void serveWorkers(int workers, std::int64_t quota, const std::function<void()>& afterUpdate);
  std::vector<EpochResult> runMaster();
  std::vector<EpochResult> runTopMaster();
  void runSubMaster();
  void exchangeWithTop(bool last);
  void runWorker();
  std::map<std::string, double> evaluate();
  void saveState();
  void finishStats();

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
  bool interrupted_ = false;
  std::unique_ptr<class Watchdog> watchdog_;
  // Server state (restored on resume): versions and updates of this server, staleness sums,
  // and the steps each worker had accepted (indexed by rank).
  std::int64_t version_ = 0, updates_ = 0;
  double stalenessSum_ = 0, exchangeStalenessSum_ = 0;
  std::vector<std::int64_t> workerSteps_;
  double version0_ = 0;  // a resumed worker's weights version
  // Losses reported since the last epoch end (master) or exchange (sub-master).
  double lossSum_ = 0;
  std::int64_t samples_ = 0;
  // Sub-master: weights at the last sync with the top master, its version then, and the
  // updates and staleness since.
  Tensor lastSync_;
  std::int64_t topVersion_ = 0, sinceExchange_ = 0, servedTotal_ = 0;
  double stalenessSinceExchange_ = 0;
};

}  // namespace kaon::train
