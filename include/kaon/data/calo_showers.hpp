#pragma once
// Synthetic electromagnetic showers in a sampling ECAL, in the layout of the 3DGAN data set:
// energy deposits in a cube of cells x cells x cells (25^3 by default) for electrons of 10-500
// GeV entering the front face at normal incidence. Longitudinal profile: a Gamma distribution
// with correlated per-shower fluctuations of its parameters; lateral profile: core + tail
// (both after the GFlash parametrisation of Grindhammer & Peters); sampling fluctuations from
// a Poisson number of energy spots. Physics and simplifications: docs/data-calo-showers.md.
#include <cstdint>

#include "kaon/core/tensor.hpp"

namespace kaon::data {

struct CaloShowerOptions {
  std::int64_t samples = 1000;
  std::int64_t firstSample = 0;  // sample n uses the random stream of firstSample + n (MPI slices)
  int cells = 25;                // x, y and depth
  double energyMin = 10, energyMax = 500;  // GeV, primary energy drawn uniformly
  double layerX0 = 1.0;          // layer thickness in radiation lengths
  double cellRm = 0.5;           // lateral cell size in Moliere radii
  double samplingTerm = 0.15;    // a in sigma(E)/E = a / sqrt(E / GeV)
  double samplingFraction = 0.02;  // visible / deposited energy (active layers)
  double z = 74;                 // absorber atomic number (tungsten)
  double criticalEnergy = 7.97e-3;  // GeV (tungsten, for electrons)
  std::uint64_t seed = 1;
};

struct CaloShowers {
  Tensor ecal;    // [N, cells (x), cells (y), cells (depth)], visible energy per cell in GeV
  Tensor energy;  // [N], primary electron energy in GeV
};

CaloShowers generateCaloShowers(const CaloShowerOptions& options);

// Regularised lower incomplete gamma function P(a, x) (exposed for tests).
double regularisedGammaP(double a, double x);

}  // namespace kaon::data
