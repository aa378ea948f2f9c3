// Electromagnetic showers after GFlash (G. Grindhammer, S. Peters, "The parameterized
// simulation of electromagnetic showers in homogeneous and sampling calorimeters",
// hep-ex/0001020), coefficients for homogeneous media. See docs/data-calo-showers.md.
#include "kaon/data/calo_showers.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "kaon/data/sampler.hpp"

namespace kaon::data {

double regularisedGammaP(double a, double x) {
  KAON_CHECK(a > 0, "regularisedGammaP: a must be > 0");
  if (x <= 0) return 0;
  const double lead = std::exp(-x + a * std::log(x) - std::lgamma(a));
  if (x < a + 1) {  // series
    double sum = 1 / a, term = sum;
    for (int n = 1; n < 500 && std::fabs(term) > std::fabs(sum) * 1e-15; ++n) sum += (term *= x / (a + n));
    return std::min(1.0, sum * lead);
  }
  // Continued fraction for Q = 1 - P (modified Lentz).
  double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
  for (int i = 1; i < 500; ++i) {
    double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    d = std::fabs(d) < 1e-300 ? 1e-300 : d;
    c = b + an / c;
    c = std::fabs(c) < 1e-300 ? 1e-300 : c;
    d = 1 / d;
    double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-15) break;
  }
  return std::max(0.0, 1 - lead * h);
}

namespace {

// One shower's profile parameters (GFlash, homogeneous media, electrons).
struct Profile {
  double alpha, beta, tMax;  // Gamma(alpha, beta) in t [X0]; tMax = (alpha - 1) / beta
};

Profile sampleProfile(double energy, const CaloShowerOptions& o, std::mt19937_64& rng) {
  const double lnY = std::log(energy / o.criticalEnergy);
  const double muT = std::log(lnY - 0.812), sigmaT = 1 / (-1.4 + 1.26 * lnY);
  const double muA = std::log(0.81 + (0.458 + 2.26 / o.z) * lnY), sigmaA = 1 / (-0.58 + 0.86 * lnY);
  const double rho = 0.705 - 0.023 * lnY;
  std::normal_distribution<double> gauss(0, 1);
  double z1 = gauss(rng), z2 = gauss(rng);
  double t = std::exp(muT + sigmaT * z1);
  double alpha = std::exp(muA + sigmaA * (rho * z1 + std::sqrt(1 - rho * rho) * z2));
  alpha = std::max(alpha, 1.05);  // keep a maximum inside the shower (alpha > 1)
  return {alpha, (alpha - 1) / t, t};
}

// Lateral profile at depth tau = t / tMax: a core and a tail, each f(r) = 2 r R^2 / (r^2 + R^2)^2
// (r in Moliere radii), mixed with probability p for the core.
struct Lateral {
  double core, tail, p;
};

Lateral lateralAt(double tau, double energy, double z) {
  const double lnE = std::log(energy);
  const double z1 = 0.0251 + 0.00319 * lnE, z2 = 0.1162 - 0.000381 * z;
  const double k1 = 0.659 - 0.00309 * z, k2 = 0.645, k3 = -2.59, k4 = 0.3585 + 0.0421 * lnE;
  const double p1 = 2.632 - 0.00094 * z, p2 = 0.401 + 0.00187 * z, p3 = 1.313 - 0.0686 * lnE;
  const double u = (p2 - tau) / p3;
  return {z1 + z2 * tau, k1 * (std::exp(k3 * (tau - k2)) + std::exp(k4 * (tau - k2))),
          std::clamp(p1 * std::exp(u - std::exp(u)), 0.0, 1.0)};
}

}  // namespace

CaloShowers generateCaloShowers(const CaloShowerOptions& o) {
  KAON_CHECK(o.samples > 0 && o.firstSample >= 0, "calo showers: samples must be > 0 and firstSample >= 0");
  KAON_CHECK(o.cells >= 4 && o.cells <= 128, "calo showers: cells must be in [4, 128], got {}", o.cells);
  KAON_CHECK(o.energyMin > 10 * o.criticalEnergy && o.energyMax >= o.energyMin,
             "calo showers: need {} < energy_min <= energy_max (GeV), got [{}, {}]", 10 * o.criticalEnergy, o.energyMin,
             o.energyMax);
  KAON_CHECK(o.layerX0 > 0 && o.cellRm > 0 && o.samplingTerm > 0 && o.samplingFraction > 0,
             "calo showers: layer_x0, cell_rm, sampling_term and sampling_fraction must be > 0");
  const int C = o.cells;
  const std::int64_t cube = static_cast<std::int64_t>(C) * C * C;
  CaloShowers out{Tensor::zeros(Shape{o.samples, C, C, C}), Tensor::empty(Shape{o.samples})};
  // Each spot carries samplingFraction * a^2 GeV visible energy; a Poisson number of
  // E / a^2 spots gives the stochastic resolution a / sqrt(E).
  const double spotsPerGeV = 1 / (o.samplingTerm * o.samplingTerm);
  const double spotEnergy = o.samplingFraction / spotsPerGeV;
#pragma omp parallel for schedule(dynamic, 4)
  for (std::int64_t n = 0; n < o.samples; ++n) {
    std::mt19937_64 rng(splitmix64(o.seed * 0xC0FFEE123ull + static_cast<std::uint64_t>(o.firstSample + n)));
    std::uniform_real_distribution<double> uniform(0, 1);
    const double energy = o.energyMin + (o.energyMax - o.energyMin) * uniform(rng);
    const Profile prof = sampleProfile(energy, o, rng);
    // Impact point: uniform over the central cell (cells count from the face's corner).
    const double x0 = (uniform(rng) - 0.5) * o.cellRm, y0 = (uniform(rng) - 0.5) * o.cellRm;
    float* cells = out.ecal.data<float>() + n * cube;
    double below = 0;  // Gamma CDF at the front of the current layer
    for (int layer = 0; layer < C; ++layer) {
      const double front = layer * o.layerX0, back = front + o.layerX0;
      const double above = regularisedGammaP(prof.alpha, prof.beta * back);
      const double mean = energy * spotsPerGeV * (above - below);  // energy beyond the last layer leaks
      below = above;
      if (mean <= 0) continue;
      const int spots = std::poisson_distribution<int>(mean)(rng);
      for (int s = 0; s < spots; ++s) {
        // Depth within the layer, then the lateral profile at that depth.
        const double tau = (front + uniform(rng) * o.layerX0) / prof.tMax;
        const Lateral lat = lateralAt(tau, energy, o.z);
        const double radiusScale = uniform(rng) < lat.p ? lat.core : lat.tail;
        const double u = std::min(uniform(rng), 1 - 1e-12);
        const double r = radiusScale * std::sqrt(u / (1 - u)), phi = 2 * M_PI * uniform(rng);
        const int ix = static_cast<int>(std::floor((x0 + r * std::cos(phi)) / o.cellRm + C / 2.0));
        const int iy = static_cast<int>(std::floor((y0 + r * std::sin(phi)) / o.cellRm + C / 2.0));
        if (ix < 0 || ix >= C || iy < 0 || iy >= C) continue;  // lateral leakage
        cells[(static_cast<std::int64_t>(ix) * C + iy) * C + layer] += static_cast<float>(spotEnergy);
      }
    }
    out.energy.data<float>()[n] = static_cast<float>(energy);
  }
  return out;
}

}  // namespace kaon::data
