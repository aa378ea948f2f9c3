// kaon-bench-data: read throughput of the HDF5 data pipeline against the raw sequential read
// speed of the same files, for contiguous, chunked and gzip-compressed jet images (3x64x64
// float32), sequential and shuffled order, synchronous and with the prefetching Loader; and
// the jet-CNN training rate the loader has to outpace. Results: docs/benchmarks.md.
//
//   kaon-bench-data [--dir DIR] [--samples 4096] [--batch 32] [--compute-ms 150]
//
// Cold numbers drop the page cache first (echo 3 > /proc/sys/vm/drop_caches, needs root);
// when that fails the table says "warm" and the numbers are from memory.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "kaon/config/run_config.hpp"
#include "kaon/data/hdf5_dataset.hpp"
#include "kaon/data/jet_images.hpp"
#include "kaon/data/loader.hpp"
#include "kaon/data/sample_file.hpp"
#include "kaon/data/sampler.hpp"
#include "kaon/nn/model_config.hpp"
#include "kaon/ops/loss.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace data = kaon::data;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool dropCaches() {
  ::sync();
  std::ofstream f("/proc/sys/vm/drop_caches");
  f << "3\n";
  f.flush();
  return f.good();
}

// read(2) of the whole file in 8 MiB blocks: bytes per second.
double rawRead(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  KAON_CHECK(fd >= 0, "{}: cannot open", path);
  std::vector<char> buf(8 << 20);
  auto t = Clock::now();
  std::size_t total = 0;
  for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) total += static_cast<std::size_t>(n);
  double s = since(t);
  ::close(fd);
  return static_cast<double>(total) / s;
}

struct Result {
  double samplesPerSecond, seconds;
};

// One pass over `order` in batches; compute: emulated model time per batch (sleep).
Result pass(const data::Dataset& d, const std::vector<std::int64_t>& order, std::int64_t batch, int prefetch,
            double computeSeconds) {
  auto t = Clock::now();
  data::Loader loader(d, order, {batch, false, prefetch, 0});
  while (loader.next())
    if (computeSeconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(computeSeconds));
  double s = since(t);
  return {static_cast<double>(order.size()) / s, s};
}

// Samples per second of jet-CNN training steps (forward, loss, backward) at this batch size.
double trainRate(const std::string& configPath, std::int64_t batch) {
  kaon::config::RunConfig rc = kaon::config::loadRunConfig(configPath);
  kaon::config::ConfigNode node(rc.model, "model", rc.path);
  kaon::nn::Model m = kaon::nn::modelFromConfig(node);
  m.build(kaon::DType::Float32, 1);
  kaon::Tensor x = kaon::Tensor::zeros(m.inputShapes()[0].prepend(batch)), y = kaon::Tensor::zeros(kaon::Shape{batch});
  auto step = [&] {
    kaon::Tensor p = m.forward(x, true);
    kaon::ops::LossResult l = kaon::ops::loss(kaon::ops::LossKind::SoftmaxCrossEntropy, p, y);
    m.zeroGrad();
    m.backward(l.grad);
  };
  step();  // warm-up
  auto t = Clock::now();
  const int steps = 3;
  for (int i = 0; i < steps; ++i) step();
  return static_cast<double>(steps * batch) / since(t);
}

int run(int argc, char** argv) {
  CLI::App app{"HDF5 data pipeline throughput"};
  std::string dir = (std::filesystem::temp_directory_path() / "kaon_bench_data").string();
  std::int64_t samples = 4096, batch = 32;
  double computeMs = 150;
  bool noDrop = false, keep = false;
  int repeat = 1;
  std::vector<std::string> only;
  std::string model = std::string(KAON_SOURCE_DIR) + "/configs/jet_cnn.yaml";
  app.add_option("--dir", dir, "Where the test files are written");
  app.add_option("--samples", samples, "Jet images per file (3x64x64 float32, 48 KiB each)");
  app.add_option("--batch", batch, "Batch size");
  app.add_option("--compute-ms", computeMs, "Emulated training step per batch for the overlap rows");
  app.add_option("--model", model, "Config whose model gives the training rate (empty: skip)");
  app.add_flag("--no-drop-caches", noDrop, "Do not drop the page cache before cold reads");
  app.add_flag("--keep", keep, "Keep the files");
  app.add_option("--layouts", only, "Only these layouts (contiguous chunked64 gzip64 gzip8)");
  app.add_option("--repeat", repeat, "Runs per row; the best is reported (shared machines are noisy)");
  CLI11_PARSE(app, argc, argv);

  std::filesystem::create_directories(dir);
  data::JetImageOptions jo;
  jo.samples = samples;
  data::JetImages jets = data::generateJetImages(jo);
  struct Layout {
    const char* name;
    data::SampleLayout layout;
  };
  const Layout layouts[] = {{"contiguous", {0, 0, false}},
                            {"chunked64", {64, 0, false}},
                            {"gzip64", {64, 4, true}},
                            {"gzip8", {8, 4, true}}};
  const double sampleBytes = 3 * 64 * 64 * 4.0;
  auto cold = [&] { return !noDrop && dropCaches(); };
  bool dropped = cold();
  std::printf("data pipeline: %lld jet images 3x64x64 float32 (%.0f MiB decoded), batch %lld, page cache %s\n",
              static_cast<long long>(samples), samples * sampleBytes / (1 << 20), static_cast<long long>(batch),
              dropped ? "dropped before each cold row" : "NOT dropped (warm numbers)");
  std::printf("%-13s %-30s %12s %10s %10s\n", "layout", "read", "samples/s", "MB/s", "vs raw");
  std::printf("(MB/s: decoded float32 for Kaon rows, file bytes for raw rows; vs raw: file bytes consumed per second\n"
              " relative to read(2) of the same file, cold)\n");
  for (const auto& l : layouts) {
    if (!only.empty() && std::find(only.begin(), only.end(), l.name) == only.end()) continue;
    std::string path = dir + "/jets_" + l.name + ".h5";
    {
      data::SampleFile f(path, data::SampleFile::Mode::Create);
      f.createDataset("images", kaon::Shape{3, 64, 64}, samples, l.layout);
      f.createDataset("labels", kaon::Shape{}, samples, {});
      f.writeRows("images", 0, jets.images);
      f.writeRows("labels", 0, jets.labels);
    }
    const double fileBytes = static_cast<double>(std::filesystem::file_size(path));
    double raw = 0, rawWarm = 0;
    for (int r = 0; r < repeat; ++r) {
      cold();
      raw = std::max(raw, rawRead(path));
      rawWarm = std::max(rawWarm, rawRead(path));
    }
    std::printf("%-13s %-30s %12.0f %10.0f %10s   (file %.0f MiB)\n", l.name, "raw read(2), cold", raw / sampleBytes * (sampleBytes * samples / fileBytes),
                raw / 1e6, "1.00", fileBytes / (1 << 20));
    std::printf("%-13s %-30s %12s %10.0f\n", l.name, "raw read(2), warm", "", rawWarm / 1e6);
    data::Hdf5DatasetOptions o;
    o.files = {path};
    o.features.dataset = "images";
    o.labels = data::FieldSpec{"labels"};
    std::vector<std::int64_t> sequential = data::ShardedSampler(samples, {false, 0, 0, 1}).indices(0);
    std::vector<std::int64_t> shuffled = data::ShardedSampler(samples, {true, 7, 0, 1}).indices(0);
    auto row = [&](const char* what, const std::vector<std::int64_t>& order, int prefetch, bool makeCold) {
      Result r{0, 0};
      for (int k = 0; k < repeat; ++k) {
        if (makeCold) cold();
        data::Hdf5Dataset d(o);  // opened after the drop: metadata read cold too
        Result one = pass(d, order, batch, prefetch, 0);
        if (one.samplesPerSecond > r.samplesPerSecond) r = one;
      }
      double mb = r.samplesPerSecond * sampleBytes / 1e6;  // decoded float32
      std::printf("%-13s %-30s %12.0f %10.0f %10.2f\n", l.name, what, r.samplesPerSecond, mb,
                  r.samplesPerSecond * sampleBytes / (raw * sampleBytes * samples / fileBytes));
    };
    row("sequential, sync, cold", sequential, 0, true);
    row("sequential, prefetch 2, cold", sequential, 2, true);
    row("shuffled, sync, cold", shuffled, 0, true);
    row("shuffled, prefetch 2, cold", shuffled, 2, true);
    row("shuffled, prefetch 2, warm", shuffled, 2, false);
    // Overlap: a training step of computeMs per batch, 32 batches, shuffled, cold.
    std::vector<std::int64_t> part(shuffled.begin(), shuffled.begin() + std::min<std::int64_t>(samples, 32 * batch));
    for (int prefetch : {0, 2}) {
      cold();
      data::Hdf5Dataset d(o);
      Result r = pass(d, part, batch, prefetch, computeMs / 1000);
      double steps = static_cast<double>(part.size()) / static_cast<double>(batch);
      std::printf("%-13s %-30s %12.0f %10s   data wait %.1f ms/step with %.0f ms compute\n", l.name,
                  prefetch ? "shuffled+compute, prefetch 2" : "shuffled+compute, sync", r.samplesPerSecond, "",
                  std::max(0.0, r.seconds / steps * 1000 - computeMs), computeMs);
    }
    if (!keep) std::filesystem::remove(path);
  }
  if (!model.empty()) {
    double rate = trainRate(model, batch);
    std::printf("jet-CNN training (forward+backward, batch %lld, %s): %.0f samples/s\n", static_cast<long long>(batch),
                std::filesystem::path(model).filename().c_str(), rate);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kaon-bench-data: error: %s\n", e.what());
    return 1;
  }
}
