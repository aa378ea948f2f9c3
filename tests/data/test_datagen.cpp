// Generators: the physics each one promises (docs/data-*.md), slice consistency (what lets
// MPI ranks generate disjoint parts), and SampleFile written -> Hdf5Dataset read back.
#include <gtest/gtest.h>

#include <unsupported/Eigen/FFT>

#include <cmath>
#include <complex>
#include <filesystem>
#include <numeric>

#include "kaon/data/calo_showers.hpp"
#include "kaon/data/hdf5_dataset.hpp"
#include "kaon/data/jet_images.hpp"
#include "kaon/data/sample_file.hpp"
#include "kaon/data/weather_fields.hpp"

namespace kaon::data {
namespace {

std::vector<float> rows(const Tensor& t, std::int64_t begin, std::int64_t end) { return t.slice(begin, end).clone().toVector<float>(); }

TEST(Generators, SlicesConcatenateToTheWholeSet) {
  JetImageOptions j;
  j.samples = 6, j.pixels = 16;
  JetImageOptions jTail = j;
  jTail.firstSample = 4, jTail.samples = 2;
  EXPECT_EQ(rows(generateJetImages(j).images, 4, 6), generateJetImages(jTail).images.toVector<float>());
  CaloShowerOptions c;
  c.samples = 5, c.cells = 10;
  CaloShowerOptions cTail = c;
  cTail.firstSample = 3, cTail.samples = 2;
  CaloShowers whole = generateCaloShowers(c), tail = generateCaloShowers(cTail);
  EXPECT_EQ(rows(whole.ecal, 3, 5), tail.ecal.toVector<float>());
  EXPECT_EQ(rows(whole.energy, 3, 5), tail.energy.toVector<float>());
  EXPECT_NE(rows(whole.ecal, 0, 1), rows(whole.ecal, 1, 2));
  WeatherOptions w;
  w.samples = 3, w.size = 16;
  WeatherOptions wTail = w;
  wTail.firstSample = 1, wTail.samples = 2;
  EXPECT_EQ(rows(generateWeatherFields(w).hr, 1, 3), generateWeatherFields(wTail).hr.toVector<float>());
}

TEST(CaloShowers, IncompleteGammaMatchesClosedForms) {
  for (double x : {0.1, 1.0, 3.0, 10.0}) {
    EXPECT_NEAR(regularisedGammaP(1, x), 1 - std::exp(-x), 1e-12);
    EXPECT_NEAR(regularisedGammaP(2, x), 1 - std::exp(-x) * (1 + x), 1e-12);
    EXPECT_NEAR(regularisedGammaP(0.5, x), std::erf(std::sqrt(x)), 1e-12);
  }
}

struct ShowerSummary {
  double response = 0, spread = 0, depth = 0, core = 0;  // means over the showers
};

// Mean visible/(fs * E), relative spread of the visible sum, energy-weighted depth (layers),
// and the fraction of energy in the central 3 x 3 cell column.
ShowerSummary summarise(double energy, std::int64_t n) {
  CaloShowerOptions o;
  o.samples = n, o.energyMin = o.energyMax = energy, o.seed = 11;
  CaloShowers s = generateCaloShowers(o);
  const int C = o.cells;
  std::vector<double> sums;
  ShowerSummary r;
  for (std::int64_t k = 0; k < n; ++k) {
    const float* e = s.ecal.data<float>() + k * C * C * C;
    double sum = 0, depth = 0, core = 0;
    for (int x = 0; x < C; ++x)
      for (int y = 0; y < C; ++y)
        for (int z = 0; z < C; ++z) {
          double v = e[(x * C + y) * C + z];
          sum += v, depth += v * (z + 0.5);
          if (std::abs(x - C / 2) <= 1 && std::abs(y - C / 2) <= 1) core += v;
        }
    sums.push_back(sum);
    r.depth += depth / sum / static_cast<double>(n);
    r.core += core / sum / static_cast<double>(n);
  }
  double mean = std::accumulate(sums.begin(), sums.end(), 0.0) / static_cast<double>(n), var = 0;
  for (double v : sums) var += (v - mean) * (v - mean) / static_cast<double>(n - 1);
  r.response = mean / (o.samplingFraction * energy);
  r.spread = std::sqrt(var) / mean;
  return r;
}

TEST(CaloShowers, ResponseResolutionAndShapeFollowTheParametrisation) {
  ShowerSummary low = summarise(20, 150), high = summarise(400, 60);
  // Nearly contained (some leakage) and linear within a few per cent.
  EXPECT_GT(low.response, 0.9);
  EXPECT_LT(high.response, 1.0);
  EXPECT_NEAR(low.response, high.response, 0.06);
  // Stochastic term 15%/sqrt(E): 3.4% at 20 GeV; at 400 GeV 0.75% plus leakage fluctuations.
  EXPECT_NEAR(low.spread, 0.15 / std::sqrt(20.0), 0.012);
  EXPECT_LT(high.spread, low.spread);
  // Shower maximum grows like ln(E): 20x the energy -> ~ln 20 = 3 X0 deeper.
  EXPECT_NEAR(high.depth - low.depth, std::log(20.0), 0.8);
  EXPECT_GT(low.depth, 4);
  EXPECT_LT(high.depth, 15);
  // Most energy within +-0.75 Moliere radii, but a tail outside.
  EXPECT_GT(low.core, 0.6);
  EXPECT_LT(low.core, 0.97);
}

// Radially integrated spectrum E(k) of a square field, by integer wavenumber bin.
std::vector<double> radialSpectrum(const Tensor& field) {
  const int n = static_cast<int>(field.dim(0));
  Eigen::FFT<double> fft;
  std::vector<std::complex<double>> a(static_cast<std::size_t>(n) * n), in(n), out(n);
  for (std::size_t k = 0; k < a.size(); ++k) a[k] = field.data<float>()[k];
  auto at = [&](int pass, int l, int k) -> std::complex<double>& {
    return pass ? a[static_cast<std::size_t>(k) * n + l] : a[static_cast<std::size_t>(l) * n + k];
  };
  for (int pass = 0; pass < 2; ++pass)
    for (int l = 0; l < n; ++l) {
      for (int k = 0; k < n; ++k) in[k] = at(pass, l, k);
      fft.fwd(out.data(), in.data(), n);
      for (int k = 0; k < n; ++k) at(pass, l, k) = out[k];
    }
  std::vector<double> energy(n, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      int bin = static_cast<int>(std::lround(std::hypot(i <= n / 2 ? i : i - n, j <= n / 2 ? j : j - n)));
      if (bin < n) energy[bin] += std::norm(a[static_cast<std::size_t>(i) * n + j]);
    }
  return energy;
}

// Least-squares slope of log E against log k for k in [k1, k2] cycles/km.
double spectralSlope(const std::vector<double>& energy, double dx, double k1, double k2) {
  const auto n = static_cast<double>(energy.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0, m = 0;
  for (std::size_t b = 1; b < energy.size() / 2; ++b) {
    double k = static_cast<double>(b) / (n * dx);
    if (k < k1 || k > k2) continue;
    double x = std::log(k), y = std::log(energy[b]);
    sx += x, sy += y, sxx += x * x, sxy += x * y, m += 1;
  }
  return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

TEST(WeatherFields, SpectrumCoarseningAndOrography) {
  // k^-3 above 500 km wavelength, k^-5/3 below (Nastrom-Gage shape).
  // Averaged over three realisations on a 5120 km domain (few modes at large scales).
  std::vector<double> energy(512, 0.0);
  for (std::uint64_t seed : {1, 2, 3}) {
    std::vector<double> e = radialSpectrum(gaussianRandomField(512, 10, 500, 3.0, 5.0 / 3.0, seed));
    for (std::size_t b = 0; b < e.size(); ++b) energy[b] += e[b];
  }
  EXPECT_NEAR(spectralSlope(energy, 10, 1.0 / 400, 1.0 / 25), -5.0 / 3.0, 0.2);
  EXPECT_NEAR(spectralSlope(energy, 10, 1.0 / 2560, 1.0 / 640), -3.0, 0.5);
  WeatherOptions o;
  o.samples = 6, o.size = 32, o.factor = 4;
  WeatherFields w = generateWeatherFields(o);
  ASSERT_EQ(w.lr.shape(), (Shape{6, 1, 8, 8}));
  // lr is exactly the 4x4 block average of hr.
  const float* hr = w.hr.data<float>() + 2 * 32 * 32;
  double block = 0;
  for (int i = 4; i < 8; ++i)
    for (int j = 8; j < 12; ++j) block += hr[i * 32 + j];
  EXPECT_NEAR(w.lr.data<float>()[2 * 64 + 1 * 8 + 2], block / 16, 1e-3);
  // Higher ground is colder: negative correlation of hr with elevation within a sample.
  double corr = 0;
  for (int s = 0; s < 6; ++s) {
    const float* t = w.hr.data<float>() + s * 1024;
    const float* h = w.elevation.data<float>() + s * 1024;
    double mt = 0, mh = 0, ct = 0, ch = 0, th = 0;
    for (int k = 0; k < 1024; ++k) mt += t[k] / 1024.0, mh += h[k] / 1024.0;
    for (int k = 0; k < 1024; ++k) ct += (t[k] - mt) * (t[k] - mt), ch += (h[k] - mh) * (h[k] - mh), th += (t[k] - mt) * (h[k] - mh);
    corr += th / std::sqrt(ct * ch) / 6;
  }
  EXPECT_LT(corr, -0.3);
  for (float v : w.elevation.span<float>()) ASSERT_GE(v, 0.0f);
}

TEST(SampleFile, WritesSlicesThatTheReaderReadsBack) {
  std::string path = (std::filesystem::temp_directory_path() / ("kaon_samplefile_" + std::to_string(::getpid()) + ".h5")).string();
  CaloShowerOptions o;
  o.samples = 9, o.cells = 6;
  CaloShowers s = generateCaloShowers(o);
  {
    SampleFile f(path, SampleFile::Mode::Create);
    f.createDataset("ECAL", Shape{6, 6, 6}, 9, {4, 5, true}, DType::Float32, "deposits", "GeV");
    f.createDataset("energy", Shape{}, 9, {}, DType::Float32);
  }
  {
    SampleFile f(path, SampleFile::Mode::Append);  // two slices, written out of order
    f.writeRows("ECAL", 5, s.ecal.slice(5, 9));
    f.writeRows("ECAL", 0, s.ecal.slice(0, 5));
    f.writeRows("energy", 0, s.energy);
    EXPECT_THROW(f.writeRows("energy", 5, s.energy), Error);  // past the end
  }
  Hdf5DatasetOptions r;
  r.files = {path};
  r.features.dataset = "ECAL";
  r.labels = FieldSpec{"energy"};
  Hdf5Dataset d(r);
  Batch b = d.allocateBatch(9);
  std::vector<std::int64_t> all(9);
  std::iota(all.begin(), all.end(), 0);
  d.read(all, b);
  EXPECT_EQ(b.inputs[0].toVector<float>(), s.ecal.toVector<float>());
  EXPECT_EQ(b.targets[0].toVector<float>(), s.energy.toVector<float>());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kaon::data
