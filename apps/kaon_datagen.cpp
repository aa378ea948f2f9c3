// kaon-datagen: writes the synthetic physics data sets to HDF5 (readable by h5py and Kaon).
//   kaon-datagen jet_images   -o jets.h5 -n 20000 --pixels 64 --channels 3
//   kaon-datagen calo_showers -o showers.h5 -n 10000
//   kaon-datagen weather      -o weather.h5 -n 2000 --size 128 --factor 4
//   mpirun -n 8 kaon-datagen jet_images -o jets.h5 -n 1000000 [--split]
//
// MPI: rank r generates the disjoint slice [r*N/W, (r+1)*N/W) block by block; sample n is a
// pure function of (seed, n), so the output does not depend on the number of ranks. Default:
// one file; rank 0 creates it at full size, then in each round every rank generates its next
// block and the ranks take turns writing them (needs a file system all ranks see; serial
// HDF5, no MPI-IO). --split: each rank writes <stem>.rank<r>.h5 and rank 0 a list file
// <stem>.list of them (a `file_list:` for data: source: hdf5). Layout: docs/datagen.md.
#include <CLI/CLI.hpp>
#include <mpi.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

#include "app_support.hpp"
#include "kaon/data/calo_showers.hpp"
#include "kaon/data/jet_images.hpp"
#include "kaon/data/sample_file.hpp"
#include "kaon/data/weather_fields.hpp"

namespace {

using kaon::Shape;
using kaon::Tensor;
namespace data = kaon::data;

struct Column {
  std::string name;
  Shape perSample;
  kaon::DType dtype;
  std::string description, units;
};

// A generator: its datasets, and a function producing samples [first, first + count).
struct Generator {
  std::string name;
  std::vector<Column> columns;
  std::function<std::vector<Tensor>(std::int64_t first, std::int64_t count)> generate;
  std::vector<std::pair<std::string, double>> attributes;
};

Tensor toInt64(const Tensor& labels) {
  Tensor t = Tensor::empty(labels.shape(), kaon::DType::Int64);
  for (std::int64_t i = 0; i < labels.numel(); ++i) t.data<std::int64_t>()[i] = static_cast<std::int64_t>(labels.item(i));
  return t;
}

void writeAll(const Generator& g, const std::string& out, std::int64_t samples, const data::SampleLayout& layout,
              std::int64_t block, bool split, std::uint64_t seed) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  KAON_CHECK(!split || samples >= world, "--split with {} ranks needs at least {} samples (one per file), got {}", world,
             world, samples);
  const std::int64_t first = samples * rank / world, end = samples * (rank + 1) / world;
  namespace fs = std::filesystem;
  fs::path base(out);
  std::string myPath = split ? (base.parent_path() / fmt::format("{}.rank{:04d}.h5", base.stem().string(), rank)).string()
                             : out;
  auto create = [&](const std::string& path, std::int64_t rows, std::int64_t offset) {
    data::SampleFile f(path, data::SampleFile::Mode::Create);
    for (const auto& c : g.columns) f.createDataset(c.name, c.perSample, rows, layout, c.dtype, c.description, c.units);
    f.setAttribute("generator", g.name);
    f.setAttribute("created_by", std::string("kaon-datagen"));
    f.setAttribute("seed", static_cast<std::int64_t>(seed));
    f.setAttribute("samples", rows);
    f.setAttribute("first_sample", offset);  // index of row 0 in the whole generated set
    f.setAttribute("total_samples", samples);
    for (const auto& [k, v] : g.attributes) f.setAttribute(k, v);
  };
  if (split) create(myPath, end - first, first);
  else if (rank == 0) create(out, samples, 0);
  MPI_Barrier(MPI_COMM_WORLD);

  const std::int64_t maxSlice = (samples + world - 1) / world;
  const std::int64_t rounds = (maxSlice + block - 1) / block;
  std::unique_ptr<data::SampleFile> file;
  if (split || world == 1) file = std::make_unique<data::SampleFile>(myPath, data::SampleFile::Mode::Append);
  for (std::int64_t r = 0; r < rounds; ++r) {
    const std::int64_t b0 = first + r * block, count = std::max<std::int64_t>(0, std::min(block, end - b0));
    std::vector<Tensor> rows = count > 0 ? g.generate(b0, count) : std::vector<Tensor>{};
    auto write = [&](data::SampleFile& f) {
      for (std::size_t k = 0; k < rows.size(); ++k) f.writeRows(g.columns[k].name, split ? b0 - first : b0, rows[k]);
    };
    if (file) {
      if (count > 0) write(*file);
      continue;
    }
    for (int turn = 0; turn < world; ++turn) {  // one writer at a time on the shared file
      if (turn == rank && count > 0) {
        data::SampleFile f(out, data::SampleFile::Mode::Append);
        write(f);
      }
      MPI_Barrier(MPI_COMM_WORLD);
    }
  }
  if (file) file->close();
  MPI_Barrier(MPI_COMM_WORLD);
  if (split && rank == 0) {
    fs::path list = base.parent_path() / (base.stem().string() + ".list");
    std::ofstream l(list);
    l << "# kaon-datagen " << g.name << ": " << samples << " samples in " << world << " files\n";
    for (int r = 0; r < world; ++r) l << fmt::format("{}.rank{:04d}.h5\n", base.stem().string(), r);
    KAON_CHECK(l.good(), "{}: cannot write the file list", list.string());
  }
}

int run(int argc, char** argv) {
  CLI::App app{"Generate synthetic physics data sets as HDF5 files"};
  app.require_subcommand(1);
  std::string out;
  std::int64_t samples = 1000, chunk = 0, block = 1024;
  std::uint64_t seed = 1;
  int gzip = 0;
  bool shuffle = false, split = false;
  data::JetImageOptions jet;
  data::CaloShowerOptions calo;
  data::WeatherOptions weather;
  auto common = [&](CLI::App* sub) {
    sub->add_option("-o,--output", out, "Output HDF5 file")->required();
    sub->add_option("-n,--samples", samples, "Number of samples")->check(CLI::PositiveNumber);
    sub->add_option("--seed", seed, "Seed (sample n depends only on seed and n)");
    sub->add_option("--chunk-samples", chunk, "Chunk size in samples (0: contiguous)")->check(CLI::NonNegativeNumber);
    sub->add_option("--gzip", gzip, "Deflate level 1-9 (needs --chunk-samples)")->check(CLI::Range(0, 9));
    sub->add_flag("--shuffle", shuffle, "Byte-shuffle filter before deflate");
    sub->add_option("--block", block, "Samples generated and written at a time per rank")->check(CLI::PositiveNumber);
    sub->add_flag("--split", split, "One file per MPI rank plus a list file, instead of one file");
  };
  CLI::App* jets = app.add_subcommand("jet_images", "Boosted W vs QCD jet images (docs/data-jet-images.md)");
  common(jets);
  jets->add_option("--pixels", jet.pixels, "Image size (64 or 25 typical)");
  jets->add_option("--channels", jet.channels, "3 (ECAL, HCAL, tracks) or 1 (total energy)");
  jets->add_option("--signal-fraction", jet.signalFraction, "Fraction of W jets");
  CLI::App* showers = app.add_subcommand("calo_showers", "Electron showers in a 25^3 ECAL (docs/data-calo-showers.md)");
  common(showers);
  showers->add_option("--cells", calo.cells, "Cells per axis");
  showers->add_option("--energy-min", calo.energyMin, "Minimum primary energy (GeV)");
  showers->add_option("--energy-max", calo.energyMax, "Maximum primary energy (GeV)");
  CLI::App* fields = app.add_subcommand("weather", "Temperature fields over terrain, coarsened (docs/data-weather-fields.md)");
  common(fields);
  fields->add_option("--size", weather.size, "High-resolution grid size");
  fields->add_option("--factor", weather.factor, "Coarsening factor");
  CLI11_PARSE(app, argc, argv);
  KAON_CHECK(gzip == 0 || chunk > 0, "--gzip needs --chunk-samples");
  KAON_CHECK(!shuffle || chunk > 0, "--shuffle needs --chunk-samples");

  Generator g;
  using kaon::DType;
  if (jets->parsed()) {
    jet.seed = seed;
    // Validate the options once, before any rank starts writing.
    data::JetImageOptions probe = jet;
    probe.samples = 1;
    data::generateJetImages(probe);
    const std::int64_t c = jet.channels, p = jet.pixels;
    g = {"jet_images",
         {{"images", Shape{c, p, p}, DType::Float32,
           c == 3 ? "jet images: channels ECAL and HCAL energy / jet pT, track count" : "jet image: energy / jet pT", ""},
          {"labels", Shape{}, DType::Int64, "1: W -> qq' jet (signal), 0: QCD jet", ""},
          {"mass", Shape{}, DType::Float32, "jet mass from the smeared deposits", "GeV"},
          {"pt", Shape{}, DType::Float32, "generated jet transverse momentum", "GeV"}},
         [jet](std::int64_t first, std::int64_t count) {
           data::JetImageOptions o = jet;
           o.firstSample = first, o.samples = count;
           data::JetImages j = data::generateJetImages(o);
           return std::vector<Tensor>{j.images, toInt64(j.labels), j.mass, j.pt};
         },
         {{"pixels", static_cast<double>(p)}, {"channels", static_cast<double>(c)}, {"signal_fraction", jet.signalFraction}}};
  } else if (showers->parsed()) {
    calo.seed = seed;
    data::CaloShowerOptions probe = calo;
    probe.samples = 1;
    data::generateCaloShowers(probe);
    const std::int64_t n = calo.cells;
    g = {"calo_showers",
         {{"ECAL", Shape{n, n, n}, DType::Float32, "visible energy per cell, axes x, y, depth (3DGAN layout)", "GeV"},
          {"energy", Shape{}, DType::Float32, "primary electron energy", "GeV"}},
         [calo](std::int64_t first, std::int64_t count) {
           data::CaloShowerOptions o = calo;
           o.firstSample = first, o.samples = count;
           data::CaloShowers s = data::generateCaloShowers(o);
           return std::vector<Tensor>{s.ecal, s.energy};
         },
         {{"cells", static_cast<double>(n)}, {"energy_min", calo.energyMin}, {"energy_max", calo.energyMax},
          {"layer_x0", calo.layerX0}, {"cell_rm", calo.cellRm}, {"sampling_term", calo.samplingTerm},
          {"sampling_fraction", calo.samplingFraction}}};
  } else {
    weather.seed = seed;
    KAON_CHECK(weather.factor >= 1 && weather.size % weather.factor == 0, "--size {} is not a multiple of --factor {}",
               weather.size, weather.factor);
    const std::int64_t n = weather.size, l = weather.size / weather.factor;
    g = {"weather",
         {{"hr", Shape{1, n, n}, DType::Float32, "2-m temperature, high resolution", "K"},
          {"lr", Shape{1, l, l}, DType::Float32, "2-m temperature, block average of hr", "K"},
          {"elevation", Shape{1, n, n}, DType::Float32, "terrain height of the window", "m"}},
         [weather](std::int64_t first, std::int64_t count) {
           data::WeatherOptions o = weather;
           o.firstSample = first, o.samples = count;
           data::WeatherFields w = data::generateWeatherFields(o);
           return std::vector<Tensor>{w.hr, w.lr, w.elevation};
         },
         {{"size", static_cast<double>(n)}, {"factor", static_cast<double>(weather.factor)}, {"dx_km", weather.dxKm}}};
  }
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  auto start = std::chrono::steady_clock::now();
  writeAll(g, out, samples, {chunk, gzip, shuffle}, block, split, seed);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (rank == 0)
    spdlog::info("kaon-datagen: {} samples of {} written to {}{} by {} rank(s) in {:.1f} s ({:.0f} samples/s)", samples,
                 g.name, split ? "per-rank files listed in " : "",
                 split ? (std::filesystem::path(out).parent_path() /
                          (std::filesystem::path(out).stem().string() + ".list"))
                             .string()
                       : out,
                 world, seconds, static_cast<double>(samples) / std::max(seconds, 1e-9));
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return kaon::apps::guardedMain("kaon-datagen", argc, argv, run); }
