#pragma once
// Synthetic 2-m temperature fields for statistical downscaling (super-resolution): a
// high-resolution field = synoptic + mesoscale anomalies (a Gaussian random field whose
// kinetic-energy-like spectrum follows k^-3 at large scales and k^-5/3 below ~500 km, after
// Nastrom & Gage) + an orographic term (lapse rate times a synthetic elevation map); the
// low-resolution input is its block average. Physics: docs/data-weather-fields.md.
#include <cstdint>

#include "kaon/core/tensor.hpp"

namespace kaon::data {

struct WeatherOptions {
  std::int64_t samples = 100;
  std::int64_t firstSample = 0;  // sample n uses the random stream of firstSample + n (MPI slices)
  int size = 128;                // high-resolution grid: size x size points
  int factor = 4;                // coarsening factor (2 or 4 typical); size % factor == 0
  double dxKm = 10;              // high-resolution grid spacing
  double transitionKm = 500;     // wavelength where the spectrum turns from k^-3 to k^-5/3
  double anomalyK = 4;           // standard deviation of the temperature anomaly (K)
  double lapseRate = 6.5e-3;     // K per metre
  double meanElevation = 600;    // m, of the synthetic region
  std::uint64_t seed = 1;        // also fixes the region's terrain
};

struct WeatherFields {
  Tensor hr;         // [N, 1, size, size] 2-m temperature (K)
  Tensor lr;         // [N, 1, size/factor, size/factor] block average of hr (K)
  Tensor elevation;  // [N, 1, size, size] terrain height (m) of each sample's window
};

WeatherFields generateWeatherFields(const WeatherOptions& options);

// A zero-mean, unit-variance periodic Gaussian random field [n, n] whose radially integrated
// spectrum E(k) goes as k^-slopeLarge below k0 and k^-slopeSmall above it; k0 = 1/transitionKm
// cycles per km, grid spacing dxKm (exposed for tests of the spectrum).
Tensor gaussianRandomField(int n, double dxKm, double transitionKm, double slopeLarge, double slopeSmall,
                           std::uint64_t seed);

}  // namespace kaon::data
