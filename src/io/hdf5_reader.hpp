#pragma once
// Batched row reads from one numeric HDF5 dataset [N, ...], converted to float32.
//
// A "row" is one sample: everything under the first axis. Rows are read by hyperslab, never
// element by element: sorted rows become contiguous runs, each read with one H5Dread of a
// regular hyperslab (sorted, so a compressed chunk is decoded once per batch while cached). Any integer (8..64 bit, signed
// or not), float16/32/64 and h5py's boolean enum convert to float32; float16 and enums are
// converted here (HDF5 1.10 has no fast half-precision path). netCDF-4/CF packing
// (`scale_factor`, `add_offset`) is applied, and `_FillValue`/`missing_value` become NaN.
//
// Thread safety: every HDF5 call holds io::Hdf5Lock; one reader may be used from several
// threads but the calls are serialised.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hdf5_file.hpp"

namespace kaon::io {

struct Hdf5DatasetInfo {
  std::vector<std::int64_t> dims;    // [N, ...] as stored
  std::string dtype;                 // numpy-style name: int8 ... uint64, float16/32/64, bool
  bool integer = false;              // integer or enum on disk: cannot hold NaN/Inf
  bool chunked = false;
  std::vector<std::int64_t> chunk;   // chunk dims when chunked
  std::vector<std::string> filters;  // e.g. "shuffle", "deflate"
};

class Hdf5RowReader {
 public:
  // columns: sorted, unique indices along axis 1 to keep (empty: all). chunkCacheBytes sizes
  // HDF5's chunk cache for this dataset (a chunk bigger than the cache is re-read per call).
  Hdf5RowReader(std::shared_ptr<const Hdf5File> file, const std::string& dataset, std::vector<std::int64_t> columns = {},
                std::size_t chunkCacheBytes = 16u << 20);

  const std::string& file() const { return file_->path(); }
  const std::string& dataset() const { return dataset_; }
  const Hdf5DatasetInfo& info() const { return info_; }
  std::int64_t rows() const { return info_.dims[0]; }
  // Per-row shape after the column selection (axis 1 shrinks to columns.size()).
  std::vector<std::int64_t> rowShape() const;
  std::int64_t valuesPerRow() const { return valuesPerRow_; }
  bool mayHoldNonFinite() const { return !info_.integer || fill_.has_value(); }

  // Reads the strictly increasing rows `rows` into out[rows.size() * valuesPerRow()], in order.
  void read(std::span<const std::int64_t> rows, float* out) const;
  // Reads rows [begin, end).
  void readRange(std::int64_t begin, std::int64_t end, float* out) const;

 private:
  struct Block {
    std::int64_t row, count, outRow;  // rows [row, row + count) of the file -> output rows from outRow
  };
  void readBlocks(const std::vector<Block>& blocks, std::int64_t nRows, float* out) const;
  void unpack(float* out, std::size_t n) const;
  [[noreturn]] void fail(const std::string& what) const;

  std::shared_ptr<const Hdf5File> file_;
  std::string dataset_;
  std::vector<std::int64_t> columns_;
  std::vector<std::pair<std::int64_t, std::int64_t>> columnRuns_;  // [begin, end) along axis 1
  Hdf5DatasetInfo info_;
  std::int64_t valuesPerRow_ = 0;
  Hdf5Handle ds_, space_, memType_;
  enum class Convert { Hdf5, Half, Enum } convert_ = Convert::Hdf5;
  std::size_t rawSize_ = 4;  // bytes per raw value for Half/Enum
  bool rawSigned_ = false;
  double scale_ = 1, offset_ = 0;
  std::optional<float> fill_, missing_;
};

// What a dataset is, for reports and errors (dims, dtype, layout, filters); opens and closes it.
Hdf5DatasetInfo inspectDataset(const Hdf5File& file, const std::string& dataset);

// IEEE 754 binary16 bits -> float (subnormals, Inf, NaN exact).
float halfToFloat(std::uint16_t h);

}  // namespace kaon::io
