// Synthetic jet images. Each jet is built from prongs (2 for W -> qq', 1 hard + 1 soft
// emission for QCD), each prong fragments into constituents, constituents deposit in ECAL
// (photons), HCAL (hadrons) and the tracker (charged particles) with calorimeter resolution,
// lateral spread, noise and zero suppression. See docs/data-jet-images.md.
#include "kaon/data/jet_images.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include "kaon/data/sampler.hpp"

namespace kaon::data {
namespace {

constexpr double kWMass = 80.4, kWWidth = 8.0;  // detector-level W peak width

struct Constituent {
  double eta, phi, pt;
  int kind;  // 0 photon, 1 charged hadron, 2 neutral hadron
};

class JetBuilder {
 public:
  JetBuilder(const JetImageOptions& o, std::uint64_t seed) : o_(o), rng_(seed) {}

  double samplePt() {
    // Inverse CDF of pT^-4 on [ptMin, ptMax].
    double u = uniform(rng_), a = std::pow(o_.ptMin, -3.0), b = std::pow(o_.ptMax, -3.0);
    return std::pow(a + u * (b - a), -1.0 / 3.0);
  }

  // Two prongs with momentum fractions z, 1-z and opening angle from m^2 ~ z(1-z) pT^2 dR^2.
  std::vector<Constituent> jet(bool signal, double pt) {
    double m, z;
    if (signal) {
      m = std::normal_distribution<double>(kWMass, kWWidth)(rng_);
      z = 0.5 + (uniform(rng_) - 0.5) * 0.7;  // balanced split, z in [0.15, 0.85]
    } else {
      // QCD: log-normal mass peaked near 0.12 pT with a long tail; soft, asymmetric splitting.
      m = pt * std::exp(std::normal_distribution<double>(std::log(0.12), 0.55)(rng_));
      z = std::min(0.45, 0.02 + std::exponential_distribution<double>(1 / 0.08)(rng_));
    }
    m = std::clamp(m, 5.0, 0.6 * pt);
    double dR = std::min(o_.radius * 0.8, m / (pt * std::sqrt(z * (1 - z))));
    double angle = uniform(rng_) * 2 * M_PI;
    // Prong axes placed so the pT-weighted centre sits at the origin.
    double e1 = -z * dR * std::cos(angle), p1 = -z * dR * std::sin(angle);
    double e2 = (1 - z) * dR * std::cos(angle), p2 = (1 - z) * dR * std::sin(angle);
    std::vector<Constituent> out;
    fragment(pt * (1 - z), e1, p1, signal ? 0.04 : 0.05, out);
    fragment(pt * z, e2, p2, signal ? 0.04 : 0.08, out);
    // Underlying event / pileup: soft deposits anywhere in the image.
    int soft = std::poisson_distribution<int>(6)(rng_);
    for (int i = 0; i < soft; ++i)
      out.push_back({(2 * uniform(rng_) - 1) * o_.radius, (2 * uniform(rng_) - 1) * o_.radius,
                     std::exponential_distribution<double>(1 / 1.5)(rng_), static_cast<int>(uniform(rng_) * 3)});
    return out;
  }

  double uniform(std::mt19937_64& r) { return std::uniform_real_distribution<double>(0, 1)(r); }
  std::mt19937_64& rng() { return rng_; }

 private:
  // Splits a prong's pT among a Poisson number of constituents around its axis.
  void fragment(double pt, double eta, double phi, double spread, std::vector<Constituent>& out) {
    int n = 1 + std::poisson_distribution<int>(3 + pt / 40)(rng_);
    std::vector<double> w(n);
    double total = 0;
    for (auto& x : w) total += (x = std::exponential_distribution<double>(1.0)(rng_));
    std::normal_distribution<double> offset(0, spread);
    for (int i = 0; i < n; ++i) {
      double u = uniform(rng_);
      int kind = u < 0.25 ? 0 : (u < 0.85 ? 1 : 2);  // ~25% photons, 60% charged, 15% neutral hadrons
      // Harder constituents sit closer to the axis.
      double s = 1.0 / std::sqrt(1.0 + n * w[i] / total);
      out.push_back({eta + offset(rng_) * s, phi + offset(rng_) * s, pt * w[i] / total, kind});
    }
  }

  const JetImageOptions& o_;
  std::mt19937_64 rng_;
};

}  // namespace

JetImages generateJetImages(const JetImageOptions& o) {
  KAON_CHECK(o.samples > 0, "jet images: samples must be > 0");
  KAON_CHECK(o.firstSample >= 0, "jet images: firstSample must be >= 0");
  KAON_CHECK(o.pixels >= 8 && o.pixels <= 512, "jet images: pixels must be in [8, 512]");
  KAON_CHECK(o.channels == 1 || o.channels == 3, "jet images: channels must be 1 or 3, got {}", o.channels);
  KAON_CHECK(o.signalFraction >= 0 && o.signalFraction <= 1, "jet images: signal_fraction must be in [0, 1]");
  KAON_CHECK(o.ptMin > 0 && o.ptMax > o.ptMin, "jet images: need 0 < pt_min < pt_max");
  const int P = o.pixels, C = o.channels;
  JetImages out{Tensor::zeros(Shape{o.samples, C, P, P}), Tensor::empty(Shape{o.samples}),
                Tensor::empty(Shape{o.samples}), Tensor::empty(Shape{o.samples})};
  const double pixel = 2 * o.radius / P;
#pragma omp parallel for schedule(dynamic, 16)
  for (std::int64_t n = 0; n < o.samples; ++n) {
    // One generator per sample: the data do not depend on the thread count.
    JetBuilder b(o, splitmix64(o.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(o.firstSample + n)));
    bool signal = b.uniform(b.rng()) < o.signalFraction;
    double pt = b.samplePt();
    float* img = out.images.data<float>() + n * C * P * P;
    std::normal_distribution<double> gauss(0, 1);
    auto deposit = [&](int channel, double eta, double phi, double value, double spreadPixels) {
      // Lateral shower spread: a 3x3 (or single-pixel) Gaussian footprint.
      int ci = static_cast<int>(std::floor((eta + o.radius) / pixel));
      int cj = static_cast<int>(std::floor((phi + o.radius) / pixel));
      int r = spreadPixels > 0 ? 1 : 0;
      double wsum = 0, w[3][3];
      for (int di = -r; di <= r; ++di)
        for (int dj = -r; dj <= r; ++dj)
          wsum += (w[di + 1][dj + 1] = r ? std::exp(-(di * di + dj * dj) / (2 * spreadPixels * spreadPixels)) : 1.0);
      for (int di = -r; di <= r; ++di)
        for (int dj = -r; dj <= r; ++dj) {
          int i = ci + di, j = cj + dj;
          if (i < 0 || i >= P || j < 0 || j >= P) continue;
          img[(channel * P + i) * P + j] += static_cast<float>(value * w[di + 1][dj + 1] / wsum);
        }
    };
    double sumE = 0, sumEta = 0, sumPhi = 0, sumEta2 = 0, sumPhi2 = 0;
    for (const auto& c : b.jet(signal, pt)) {
      bool em = c.kind == 0;
      // Calorimeter resolution: ECAL 10%/sqrt(E) (+) 1%, HCAL 50%/sqrt(E) (+) 3%.
      double sigma = em ? std::hypot(0.10 / std::sqrt(c.pt), 0.01) : std::hypot(0.50 / std::sqrt(c.pt), 0.03);
      double e = std::max(0.0, c.pt * (1 + sigma * gauss(b.rng())));
      int channel = C == 1 ? 0 : (em ? 0 : 1);
      deposit(channel, c.eta, c.phi, e / pt, em ? 0.4 : 0.9);
      if (C == 3 && c.kind == 1) deposit(2, c.eta, c.phi, 1.0, 0);
      sumE += e, sumEta += e * c.eta, sumPhi += e * c.phi;
      sumEta2 += e * c.eta * c.eta, sumPhi2 += e * c.phi * c.phi;
    }
    // Electronic noise with zero suppression in the calorimeter channels.
    int calo = C == 1 ? 1 : 2;
    for (int ch = 0; ch < calo; ++ch)
      for (int k = 0; k < P * P; ++k) {
        float& v = img[ch * P * P + k];
        v += static_cast<float>(0.05 / pt * gauss(b.rng()));
        if (v < 0.2 / pt) v = 0;  // 0.2 GeV threshold
      }
    // Jet mass from the (smeared) deposits, small-angle approximation: m^2 = E^2 * (<eta^2> - <eta>^2 + ...).
    double varEta = sumEta2 / sumE - std::pow(sumEta / sumE, 2), varPhi = sumPhi2 / sumE - std::pow(sumPhi / sumE, 2);
    out.mass.data<float>()[n] = static_cast<float>(sumE * std::sqrt(std::max(0.0, varEta + varPhi)));
    out.labels.data<float>()[n] = signal ? 1.0f : 0.0f;
    out.pt.data<float>()[n] = static_cast<float>(pt);
  }
  return out;
}

}  // namespace kaon::data
