#pragma once
// kaon-train for trainer.kind: gan (train::GanTrainer), and --generate N --out file.h5.
#include <cstdint>
#include <string>

#include "kaon/comm/communicator.hpp"
#include "kaon/config/run_config.hpp"

namespace kaon::apps {

struct GanCli {
  std::int64_t generate = 0;  // > 0: write this many generated showers instead of training
  std::string out;            // HDF5 file for --generate
  double energyMin = 0, energyMax = 0;  // GeV; 0: gan.energy_min / energy_max
  bool summaryOnly = false;   // --summary: print both networks and exit
};

// Trains (or resumes) the GAN of `rc`, or with cli.generate > 0 loads the checkpoint and writes
// showers (ECAL [N, X, Y, Z], energy [N]) to cli.out. Returns the exit code.
int trainGan(config::RunConfig& rc, comm::Communicator& comm, const GanCli& cli);

}  // namespace kaon::apps
