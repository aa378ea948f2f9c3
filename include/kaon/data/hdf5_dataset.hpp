#pragma once
// A dataset read from HDF5 files (h5py, Keras, ROOT converters, netCDF-4): one file or many,
// each holding the same named datasets with samples along the first axis. Batches are read
// by hyperslab (sorted rows -> contiguous runs -> one H5Dread per field and file), converted
// to float32 from any numeric dtype, and checked for NaN/Inf. Classes may come from separate
// files (labels then come from where a sample lives). Configured by the `data:` section with
// `source: hdf5` (docs/config.md, docs/data-pipeline.md).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kaon/data/dataset.hpp"

namespace kaon::data {

// One field read per sample from a named HDF5 dataset.
struct FieldSpec {
  std::string dataset;                // path in each file: "images", "/group/x"
  std::vector<std::int64_t> columns;  // indices along axis 1 to keep (increasing); empty: all
  bool scalarColumn = false;          // `column: k`: a single column, axis 1 dropped
  bool channelsLast = false;          // stored [N, ..., C]; presented channels-first [N, C, ...]
  std::vector<std::int64_t> shape;    // present each sample with this shape (same count); empty: as stored
};

// One class of a class-separated dataset (signal and background apart).
struct ClassSource {
  std::string name;
  std::vector<std::string> files;
  std::string featuresDataset;  // overrides features.dataset for this class (empty: the same)
};

enum class NanPolicy {
  Error,  // a NaN/Inf in any field read is an error naming file, dataset and row
  Skip,   // samples holding NaN/Inf are found by one scan at open, counted, reported and left out
};

struct Hdf5DatasetOptions {
  std::vector<std::string> files;    // used when `classes` is empty
  std::vector<ClassSource> classes;  // label = class index, in this order
  FieldSpec features;                // input 0
  std::optional<FieldSpec> labels;   // target 0; required unless classes are given
  std::optional<FieldSpec> weights;  // per-sample weights [N]
  std::vector<FieldSpec> extraInputs, extraTargets;  // inputs 1.., targets 1.. (e.g. the GAN's energy)
  std::vector<double> classWeights;  // per class, multiplies the sample weight; empty: none
  bool balanceClasses = false;       // class weights N / (classes * N_class)
  NanPolicy onNan = NanPolicy::Error;
  std::size_t chunkCacheBytes = 16u << 20;  // HDF5 chunk cache per open dataset
  int maxOpenFiles = 64;                    // least recently used files beyond this are closed
  std::string label;                        // prefix for describe(), e.g. "validation"
};

class Hdf5Dataset : public Dataset {
 public:
  // Opens every file and checks it: datasets exist and are numeric, fields agree in length
  // within a file and in per-sample shape across files, no file is empty, filters decode.
  explicit Hdf5Dataset(Hdf5DatasetOptions options);
  ~Hdf5Dataset() override;

  std::string describe() const override;
  std::int64_t size() const override;
  std::vector<Shape> inputShapes() const override;
  std::vector<Shape> targetShapes() const override;
  bool hasWeights() const override;
  // Thread-safe (reads are serialised).
  void read(std::span<const std::int64_t> indices, Batch& out) const override;

  std::int64_t skippedSamples() const;            // with NanPolicy::Skip
  std::vector<std::int64_t> classCounts() const;  // samples per class (after skipping)
  std::vector<double> effectiveClassWeights() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The files named by a list file, one per line; blank lines and `#` comments are ignored and
// relative paths are taken relative to the list file's directory (as mpi_learn's lists).
std::vector<std::string> readFileList(const std::string& listPath);

}  // namespace kaon::data
