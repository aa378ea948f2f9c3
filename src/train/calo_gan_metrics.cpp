#include "kaon/train/calo_gan_metrics.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace kaon::train {
namespace {

constexpr std::size_t kCount = 0, kSamplingReal = 1, kSamplingFake = 2, kMapeReal = 3, kMapeFake = 4,
                      kDepthReal = 5, kDepthFake = 6, kEcalReal = 7, kEcalFake = 8, kScalars = 9;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double relativeWidth(double n, double sum, double sumSq) {
  if (n < 1) return kNaN;
  double mean = sum / n, var = std::max(sumSq / n - mean * mean, 0.0);
  return mean != 0 ? std::sqrt(var) / mean : kNaN;
}

}  // namespace

CaloGanMetrics::CaloGanMetrics(const Shape& image, std::vector<double> energyBins) : bins_(std::move(energyBins)) {
  KAON_CHECK(image.rank() == 4 && image[0] == 1, "calo GAN metrics: showers must be [1, X, Y, Z], got {}", image.str());
  KAON_CHECK(bins_.size() >= 2, "calo GAN metrics: need at least two energy bin edges");
  for (std::size_t b = 1; b < bins_.size(); ++b)
    KAON_CHECK(bins_[b] > bins_[b - 1], "calo GAN metrics: energy bin edges must increase");
  X_ = image[1];
  Y_ = image[2];
  Z_ = image[3];
  std::size_t at = kScalars;
  for (auto [p, n] : {std::pair<Profile*, std::int64_t>{&z_, Z_}, {&x_, X_}, {&y_, Y_}}) {
    *p = Profile{at, n};
    at += 4 * static_cast<std::size_t>(n);
  }
  binOffset_ = at;
  sums_.assign(at + 5 * (bins_.size() - 1), 0.0);
}

void CaloGanMetrics::addProfile(const Profile& p, const std::vector<double>& real, const std::vector<double>& fake) {
  double* s = sums_.data() + p.offset;
  for (std::int64_t i = 0; i < p.bins; ++i) {
    s[4 * i] += real[i];
    s[4 * i + 1] += real[i] * real[i];
    s[4 * i + 2] += fake[i];
    s[4 * i + 3] += fake[i] * fake[i];
  }
}

void CaloGanMetrics::add(const Tensor& real, const Tensor& fake, const Tensor& energy, const Tensor& predictedReal,
                         const Tensor& predictedFake) {
  const std::int64_t n = energy.numel(), cells = X_ * Y_ * Z_;
  KAON_CHECK(real.numel() == n * cells && fake.numel() == n * cells && predictedReal.numel() == n &&
                 predictedFake.numel() == n,
             "calo GAN metrics: {} energies for real {} and generated {} showers", n, real.shape().str(),
             fake.shape().str());
  const float* R = real.data<float>();
  const float* F = fake.data<float>();
  std::vector<double> zr(Z_), zf(Z_), xr(X_), xf(X_), yr(Y_), yf(Y_);
  for (std::int64_t s = 0; s < n; ++s) {
    std::fill(zr.begin(), zr.end(), 0.0), std::fill(zf.begin(), zf.end(), 0.0);
    std::fill(xr.begin(), xr.end(), 0.0), std::fill(xf.begin(), xf.end(), 0.0);
    std::fill(yr.begin(), yr.end(), 0.0), std::fill(yf.begin(), yf.end(), 0.0);
    double er = 0, ef = 0, dr = 0, df = 0;
    for (std::int64_t x = 0; x < X_; ++x)
      for (std::int64_t y = 0; y < Y_; ++y)
        for (std::int64_t z = 0; z < Z_; ++z) {
          const std::int64_t i = s * cells + (x * Y_ + y) * Z_ + z;
          const double r = R[i], f = F[i];
          zr[z] += r, xr[x] += r, yr[y] += r, er += r, dr += r * z;
          zf[z] += f, xf[x] += f, yf[y] += f, ef += f, df += f * z;
        }
    addProfile(z_, zr, zf);
    addProfile(x_, xr, xf);
    addProfile(y_, yr, yf);
    const double e = energy.item(s);
    sums_[kCount] += 1;
    sums_[kEcalReal] += er;
    sums_[kEcalFake] += ef;
    sums_[kSamplingReal] += er / e;
    sums_[kSamplingFake] += ef / e;
    sums_[kMapeReal] += 100.0 * std::abs(predictedReal.item(s) - e) / e;
    sums_[kMapeFake] += 100.0 * std::abs(predictedFake.item(s) - e) / e;
    sums_[kDepthReal] += dr;  // energy-weighted depth; divided by the summed ECAL in values()
    sums_[kDepthFake] += df;
    for (std::size_t b = 0; b + 1 < bins_.size(); ++b) {
      const bool last = b + 2 == bins_.size();  // the last bin includes its upper edge
      if (e < bins_[b] || e > bins_[b + 1] || (e == bins_[b + 1] && !last)) continue;
      double* bin = sums_.data() + binOffset_ + 5 * b;
      bin[0] += 1;
      bin[1] += er, bin[2] += er * er;
      bin[3] += ef, bin[4] += ef * ef;
    }
  }
}

void CaloGanMetrics::reduce(comm::Communicator& comm) {
  if (comm.size() > 1) sums_ = comm.allreduce(sums_, comm::ReduceOp::Sum);
}

std::string CaloGanMetrics::binLabel(std::size_t b) const { return fmt::format("{:g}-{:g}", bins_[b], bins_[b + 1]); }

void CaloGanMetrics::profileValues(const char* name, const Profile& p, std::map<std::string, double>& out) const {
  // chi^2 per bin: (mean_real - mean_fake)^2 / (var_real / n + var_fake / n), over bins with a
  // non-zero error; reldiff: sum |mean_real - mean_fake| / sum mean_real.
  const double n = sums_[kCount];
  const double* s = sums_.data() + p.offset;
  double chi2 = 0, absDiff = 0, total = 0;
  int used = 0;
  for (std::int64_t i = 0; i < p.bins; ++i) {
    double mr = s[4 * i] / n, mf = s[4 * i + 2] / n;
    double vr = std::max(s[4 * i + 1] / n - mr * mr, 0.0), vf = std::max(s[4 * i + 3] / n - mf * mf, 0.0);
    absDiff += std::abs(mr - mf);
    total += mr;
    double err = (vr + vf) / n;
    if (err > 0) {
      chi2 += (mr - mf) * (mr - mf) / err;
      ++used;
    }
  }
  out[fmt::format("profile_{}_chi2", name)] = used > 0 ? chi2 / used : kNaN;
  out[fmt::format("profile_{}_reldiff", name)] = total > 0 ? absDiff / total : kNaN;
}

std::map<std::string, double> CaloGanMetrics::values() const {
  std::map<std::string, double> out;
  const double n = sums_[kCount];
  auto mean = [&](std::size_t k) { return n > 0 ? sums_[k] / n : kNaN; };
  out["sampling_fraction_real"] = mean(kSamplingReal);
  out["sampling_fraction_fake"] = mean(kSamplingFake);
  out["energy_mape_real"] = mean(kMapeReal);
  out["energy_mape_fake"] = mean(kMapeFake);
  out["depth_real"] = sums_[kEcalReal] > 0 ? sums_[kDepthReal] / sums_[kEcalReal] : kNaN;
  out["depth_fake"] = sums_[kEcalFake] > 0 ? sums_[kDepthFake] / sums_[kEcalFake] : kNaN;
  profileValues("z", z_, out);  // NaN without showers
  profileValues("x", x_, out);
  profileValues("y", y_, out);
  for (std::size_t b = 0; b + 1 < bins_.size(); ++b) {
    const double* bin = sums_.data() + binOffset_ + 5 * b;
    const std::string label = binLabel(b);
    out["ecal_real_mean_" + label] = bin[0] > 0 ? bin[1] / bin[0] : kNaN;
    out["ecal_fake_mean_" + label] = bin[0] > 0 ? bin[3] / bin[0] : kNaN;
    out["ecal_real_width_" + label] = relativeWidth(bin[0], bin[1], bin[2]);
    out["ecal_fake_width_" + label] = relativeWidth(bin[0], bin[3], bin[4]);
  }
  return out;
}

}  // namespace kaon::train
