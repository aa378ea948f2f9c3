#pragma once
// Synthetic jet images: boosted two-prong jets (W -> qq') against one-prong QCD jets, as
// detector images around the jet axis. Physics and its simplifications: docs/data-jet-images.md.
//
// Channels (channels == 3, as in the LHC whole-detector CNN): 0 ECAL energy, 1 HCAL energy
// (both as fractions of the jet pT), 2 charged-track count. channels == 1: total deposited
// energy fraction (the classic 25x25 jet image).
#include <cstdint>

#include "kaon/core/tensor.hpp"

namespace kaon::data {

struct JetImageOptions {
  std::int64_t samples = 1000;
  // Sample n is drawn from the random stream of index firstSample + n, so slices generated
  // apart (one per MPI rank) concatenate to exactly the set generated at once.
  std::int64_t firstSample = 0;
  int pixels = 64;             // image is pixels x pixels
  int channels = 3;            // 3 or 1
  double radius = 1.0;         // half-width of the image in (eta, phi)
  double signalFraction = 0.5;
  double ptMin = 250, ptMax = 500;  // GeV, falling spectrum ~ pT^-4
  std::uint64_t seed = 1;
};

struct JetImages {
  Tensor images;  // [N, channels, pixels, pixels]
  Tensor labels;  // [N], 1 = two-prong (signal), 0 = QCD
  Tensor mass;    // [N], reconstructed jet mass from the smeared image (GeV)
  Tensor pt;      // [N], generated jet pT (GeV)
};

JetImages generateJetImages(const JetImageOptions& options);

}  // namespace kaon::data
