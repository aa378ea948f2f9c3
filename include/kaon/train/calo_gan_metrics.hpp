#pragma once
// What physicists judge a calorimeter-shower generator by (docs/calo-gan.md), accumulated as
// sums over showers so that ranks combine exactly (reduce(), then values()):
//   per energy bin [lo, hi) GeV (the last one [lo, hi]):  ecal_{real,fake}_mean_<lo>-<hi>   mean ECAL sum (GeV)
//                                 ecal_{real,fake}_width_<lo>-<hi>  its relative width std/mean
//   shower shapes (all showers):  profile_{z,x,y}_chi2              chi^2 per bin of the mean energy
//                                                                   per layer / slice, real vs fake
//                                 profile_{z,x,y}_reldiff           sum |real - fake| / sum real
//                                 depth_{real,fake}                 mean shower depth (layers)
//   sampling fraction:            sampling_fraction_{real,fake}     mean of ECAL sum / E
//   discriminator regression:     energy_mape_{real,fake}           mean |E_pred - E| / E (%)
// Empty bins give NaN. Images are [N, 1, X, Y, Z] (Z the depth), energies [N] in GeV.
#include <map>
#include <string>
#include <vector>

#include "kaon/comm/communicator.hpp"
#include "kaon/core/tensor.hpp"

namespace kaon::train {

class CaloGanMetrics {
 public:
  // imageShape: per sample [1, X, Y, Z]; energyBins: increasing edges (>= 2 values).
  CaloGanMetrics(const Shape& imageShape, std::vector<double> energyBins);
  // Host tensors: real, fake [N, 1, X, Y, Z]; energy, predictedReal, predictedFake [N] (GeV; the
  // discriminator's energy head on the real and on the generated showers, unscaled).
  void add(const Tensor& real, const Tensor& fake, const Tensor& energy, const Tensor& predictedReal,
           const Tensor& predictedFake);
  void reduce(comm::Communicator& comm);  // collective: sums over all ranks
  std::map<std::string, double> values() const;
  double count() const { return sums_[0]; }

 private:
  // Offsets into sums_ (all doubles, reduced with one allreduce).
  struct Profile {
    std::size_t offset;  // [real sum, real sum of squares, fake sum, fake sum of squares] x bins
    std::int64_t bins;
  };
  void addProfile(const Profile& p, const std::vector<double>& real, const std::vector<double>& fake);
  void profileValues(const char* name, const Profile& p, std::map<std::string, double>& out) const;
  std::string binLabel(std::size_t b) const;

  std::int64_t X_, Y_, Z_;
  std::vector<double> bins_;
  Profile z_{}, x_{}, y_{};
  std::size_t binOffset_ = 0;  // per energy bin: count, real sum, real sum sq, fake sum, fake sum sq
  std::vector<double> sums_;   // [0] count, [1..2] sampling fraction, [3..4] |dE|/E, [5..6] depth x E
};

}  // namespace kaon::train
