// data: source: synthetic -> an in-memory dataset from one of the physics generators.
//   jet_images:   input [channels, pixels, pixels], target class label (1 = W jet)
//   calo_showers: input [1, cells, cells, cells] (x, y, depth), target primary energy (GeV)
//   weather:      input [2, size, size] = (low-resolution field upsampled by repetition,
//                 elevation in km), target the high-resolution field [1, size, size] (K)
#include "config_parts.hpp"
#include "kaon/data/calo_showers.hpp"
#include "kaon/data/in_memory_dataset.hpp"
#include "kaon/data/jet_images.hpp"
#include "kaon/data/weather_fields.hpp"

namespace kaon::data::detail {
namespace {

std::shared_ptr<Dataset> weatherDataset(const WeatherOptions& o) {
  WeatherFields w = generateWeatherFields(o);
  const std::int64_t n = o.size, f = o.factor, nl = n / f;
  Tensor input = Tensor::empty(Shape{o.samples, 2, n, n});
  for (std::int64_t s = 0; s < o.samples; ++s) {
    float* x = input.data<float>() + s * 2 * n * n;
    const float* lr = w.lr.data<float>() + s * nl * nl;
    const float* elev = w.elevation.data<float>() + s * n * n;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        x[i * n + j] = lr[(i / f) * nl + j / f];
        x[n * n + i * n + j] = elev[i * n + j] / 1000.0f;
      }
  }
  return std::make_shared<InMemoryDataset>(std::vector<Tensor>{input}, std::vector<Tensor>{w.hr}, Tensor(),
                                           "synthetic weather (" + std::to_string(o.samples) + " samples)");
}

}  // namespace

SyntheticSource syntheticFromConfig(config::ConfigNode& node, std::uint64_t seed) {
  std::string generator = node.getChoice("generator", {"jet_images", "calo_showers", "weather"});
  auto samples = node.get<long long>("samples");
  if (samples < 2) node.failKey("samples", "must be >= 2");
  auto genSeed = static_cast<std::uint64_t>(node.getOr<long long>("seed", static_cast<long long>(seed)));
  std::string label = "synthetic " + generator + " (" + std::to_string(samples) + " samples)";
  if (generator == "jet_images") {
    JetImageOptions o;
    o.samples = samples;
    o.seed = genSeed;
    o.pixels = node.getOr<int>("pixels", 64);
    o.channels = node.getOr<int>("channels", 3);
    if (o.channels != 1 && o.channels != 3) node.failKey("channels", "must be 1 or 3");
    o.signalFraction = node.getOr<double>("signal_fraction", 0.5);
    return {[o, label] {
      JetImages jets = generateJetImages(o);
      return std::make_shared<InMemoryDataset>(std::vector<Tensor>{jets.images}, std::vector<Tensor>{jets.labels},
                                               Tensor(), label);
    }};
  }
  if (generator == "calo_showers") {
    CaloShowerOptions o;
    o.samples = samples;
    o.seed = genSeed;
    o.cells = node.getOr<int>("cells", 25);
    o.energyMin = node.getOr<double>("energy_min", 10);
    o.energyMax = node.getOr<double>("energy_max", 500);
    if (o.energyMax < o.energyMin) node.failKey("energy_max", "must be >= energy_min");
    return {[o, label] {
      CaloShowers c = generateCaloShowers(o);
      Tensor input = c.ecal.reshape(Shape{o.samples, 1, o.cells, o.cells, o.cells});
      return std::make_shared<InMemoryDataset>(std::vector<Tensor>{input}, std::vector<Tensor>{c.energy}, Tensor(),
                                               label);
    }};
  }
  WeatherOptions o;
  o.samples = samples;
  o.seed = genSeed;
  o.size = node.getOr<int>("size", 64);
  o.factor = node.getOr<int>("factor", 4);
  if (o.factor < 1 || o.size % o.factor != 0) node.failKey("factor", "must divide size");
  return {[o] { return weatherDataset(o); }};
}

}  // namespace kaon::data::detail
