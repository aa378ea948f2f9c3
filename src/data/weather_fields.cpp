// Synthetic temperature fields over synthetic terrain; spectral synthesis with Eigen's FFT
// (kissfft backend). See docs/data-weather-fields.md.
#include "kaon/data/weather_fields.hpp"

#include <unsupported/Eigen/FFT>

#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "kaon/data/sampler.hpp"

namespace kaon::data {
namespace {

using Complex = std::complex<double>;

// In-place 2-D FFT of a row-major n x n array (rows, then columns); inverse includes 1/n^2.
void fft2(std::vector<Complex>& a, int n, bool inverse) {
  Eigen::FFT<double> fft;
  std::vector<Complex> in(static_cast<std::size_t>(n)), out(static_cast<std::size_t>(n));
  for (int pass = 0; pass < 2; ++pass)
    for (int line = 0; line < n; ++line) {
      auto at = [&](int k) -> Complex& {
        return pass == 0 ? a[static_cast<std::size_t>(line) * n + k] : a[static_cast<std::size_t>(k) * n + line];
      };
      for (int k = 0; k < n; ++k) in[static_cast<std::size_t>(k)] = at(k);
      if (inverse) fft.inv(out.data(), in.data(), n);
      else fft.fwd(out.data(), in.data(), n);
      for (int k = 0; k < n; ++k) at(k) = out[static_cast<std::size_t>(k)];
    }
}

// Field of n x n doubles, zero mean and unit variance (see gaussianRandomField).
std::vector<double> grf(int n, double dxKm, double transitionKm, double slopeLarge, double slopeSmall,
                        std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss(0, 1);
  std::vector<Complex> a(static_cast<std::size_t>(n) * n);
  for (auto& v : a) v = gauss(rng);
  fft2(a, n, false);
  const double k0 = 1 / transitionKm, dk = 1 / (n * dxKm);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double kx = (i <= n / 2 ? i : i - n) * dk, ky = (j <= n / 2 ? j : j - n) * dk, k = std::hypot(kx, ky);
      // E(k) = 2 pi k P(k): the 2-D spectral density P scales as E(k) / k.
      double e = k == 0 ? 0 : std::pow(k / k0, k < k0 ? -slopeLarge : -slopeSmall);
      a[static_cast<std::size_t>(i) * n + j] *= k == 0 ? 0 : std::sqrt(e / k);
    }
  fft2(a, n, true);
  std::vector<double> f(a.size());
  double mean = 0, sq = 0;
  for (std::size_t k = 0; k < a.size(); ++k) mean += (f[k] = a[k].real());
  mean /= static_cast<double>(f.size());
  for (double& v : f) {
    v -= mean;
    sq += v * v;
  }
  const double sd = std::sqrt(sq / static_cast<double>(f.size()));
  for (double& v : f) v /= sd > 0 ? sd : 1;
  return f;
}

}  // namespace

Tensor gaussianRandomField(int n, double dxKm, double transitionKm, double slopeLarge, double slopeSmall,
                           std::uint64_t seed) {
  KAON_CHECK(n >= 4 && dxKm > 0 && transitionKm > 0, "gaussianRandomField: need n >= 4, dx > 0, transition > 0");
  std::vector<double> f = grf(n, dxKm, transitionKm, slopeLarge, slopeSmall, seed);
  Tensor t = Tensor::empty(Shape{n, n});
  for (std::size_t k = 0; k < f.size(); ++k) t.data<float>()[k] = static_cast<float>(f[k]);
  return t;
}

WeatherFields generateWeatherFields(const WeatherOptions& o) {
  KAON_CHECK(o.samples > 0 && o.firstSample >= 0, "weather: samples must be > 0 and firstSample >= 0");
  KAON_CHECK(o.size >= 8 && o.size <= 2048, "weather: size must be in [8, 2048], got {}", o.size);
  KAON_CHECK(o.factor >= 1 && o.size % o.factor == 0, "weather: size {} is not a multiple of factor {}", o.size,
             o.factor);
  KAON_CHECK(o.dxKm > 0 && o.transitionKm > 0 && o.anomalyK >= 0 && o.meanElevation >= 0,
             "weather: dx_km and transition_km must be > 0, anomaly_k and mean_elevation >= 0");
  const int n = o.size, f = o.factor, nl = n / f, m = 4 * n;
  // The region: one periodic terrain map 4x the window, fixed by the seed. Terrain spectra are
  // steeper than the atmosphere's (rough ridges on smooth massifs); softplus makes plains,
  // valleys and mountain ranges out of a Gaussian field, scaled to the region's mean height.
  std::vector<double> terrain = grf(m, o.dxKm, 300, 2.0, 3.0, splitmix64(o.seed ^ 0x7E77A1Eull));
  double sum = 0;
  for (double& h : terrain) sum += (h = std::log1p(std::exp(1.6 * h - 0.4)));
  for (double& h : terrain) h *= o.meanElevation / (sum / static_cast<double>(terrain.size()));

  WeatherFields out{Tensor::empty(Shape{o.samples, 1, n, n}), Tensor::empty(Shape{o.samples, 1, nl, nl}),
                    Tensor::empty(Shape{o.samples, 1, n, n})};
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t s = 0; s < o.samples; ++s) {
    std::uint64_t stream = splitmix64(o.seed * 0x5EA7E12ull + static_cast<std::uint64_t>(o.firstSample + s));
    std::mt19937_64 rng(stream);
    const int ox = static_cast<int>(rng() % static_cast<std::uint64_t>(m));
    const int oy = static_cast<int>(rng() % static_cast<std::uint64_t>(m));
    const double base = 288.15 + std::uniform_real_distribution<double>(-8, 8)(rng);  // season / synoptic regime
    std::vector<double> anomaly = grf(n, o.dxKm, o.transitionKm, 3.0, 5.0 / 3.0, splitmix64(stream));
    float* hr = out.hr.data<float>() + s * n * n;
    float* lr = out.lr.data<float>() + s * nl * nl;
    float* elev = out.elevation.data<float>() + s * n * n;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        elev[i * n + j] = static_cast<float>(terrain[static_cast<std::size_t>((ox + i) % m) * m + (oy + j) % m]);
    // Valley cold pools: air settles below the surrounding (block-mean) terrain, a
    // non-linear terrain effect a coarse field cannot carry.
    std::vector<double> blockMean(static_cast<std::size_t>(nl) * nl, 0);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) blockMean[static_cast<std::size_t>(i / f) * nl + j / f] += elev[i * n + j];
    for (double& b : blockMean) b /= f * f;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        double h = elev[i * n + j], below = std::max(0.0, blockMean[static_cast<std::size_t>(i / f) * nl + j / f] - h);
        double t = base + o.anomalyK * anomaly[static_cast<std::size_t>(i) * n + j] - o.lapseRate * h -
                   2.0 * std::tanh(below / 150.0);
        hr[i * n + j] = static_cast<float>(t);
      }
    for (int I = 0; I < nl; ++I)
      for (int J = 0; J < nl; ++J) {
        double acc = 0;
        for (int i = 0; i < f; ++i)
          for (int j = 0; j < f; ++j) acc += hr[(I * f + i) * n + J * f + j];
        lr[I * nl + J] = static_cast<float>(acc / (f * f));
      }
  }
  return out;
}

}  // namespace kaon::data
