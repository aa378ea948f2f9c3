#include "hdf5_reader.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace kaon::io {
namespace {

std::string integerName(std::size_t size, bool isSigned) {
  return fmt::format("{}int{}", isSigned ? "" : "u", size * 8);
}

// Fills dims, dtype, layout and filters of an open dataset; fails on an unusable type or a
// filter this HDF5 library cannot decode (so the error comes before any read, with a remedy).
Hdf5DatasetInfo describe(hid_t ds, const std::string& file, const std::string& name) {
  Hdf5DatasetInfo info;
  Hdf5Handle space(H5Dget_space(ds), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) KAON_FAIL("{}: dataset '{}': cannot read its shape ({})", file, name, hdf5ErrorStack());
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  info.dims.assign(dims.begin(), dims.end());

  Hdf5Handle type(H5Dget_type(ds), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.get());
  std::size_t size = H5Tget_size(type.get());
  if (cls == H5T_INTEGER) {
    info.integer = true;
    info.dtype = integerName(size, H5Tget_sign(type.get()) == H5T_SGN_2);
  } else if (cls == H5T_FLOAT) {
    info.dtype = fmt::format("float{}", size * 8);
  } else if (cls == H5T_ENUM) {
    Hdf5Handle base(H5Tget_super(type.get()), H5Tclose);
    info.integer = true;
    info.dtype = H5Tget_nmembers(type.get()) == 2 && size == 1 ? "bool" : "enum of " + integerName(size, H5Tget_sign(base.get()) == H5T_SGN_2);
  } else {
    const char* names[] = {"integer", "float", "time", "string", "bitfield", "opaque", "compound", "reference", "enum", "vlen", "array"};
    KAON_FAIL("{}: dataset '{}' holds {} values; Kaon reads numeric datasets (integers, floats, booleans)", file,
              name, cls >= 0 && cls < 11 ? names[cls] : "unknown");
  }

  Hdf5Handle dcpl(H5Dget_create_plist(ds), H5Pclose);
  info.chunked = H5Pget_layout(dcpl.get()) == H5D_CHUNKED;
  if (info.chunked) {
    std::vector<hsize_t> chunk(static_cast<std::size_t>(rank));
    H5Pget_chunk(dcpl.get(), rank, chunk.data());
    info.chunk.assign(chunk.begin(), chunk.end());
  }
  int nFilters = H5Pget_nfilters(dcpl.get());
  for (int i = 0; i < nFilters; ++i) {
    unsigned flags = 0, config = 0;
    std::size_t nValues = 0;
    char filterName[128] = {0};
    H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nValues, nullptr,
                                     sizeof filterName, filterName, &config);
    std::string label = filterName[0] ? filterName : "unnamed";
    if (id == 32000) label = "lzf";
    if (id == H5Z_FILTER_DEFLATE) label = "deflate";
    if (id == H5Z_FILTER_SHUFFLE) label = "shuffle";
    info.filters.push_back(label);
    if (H5Zfilter_avail(id) <= 0) {
      hdf5ErrorStack();  // clear what the failed plugin search left behind
      KAON_FAIL("{}: dataset '{}' is compressed with HDF5 filter '{}' (id {}), which this HDF5 library cannot decode "
                "(no such filter plugin in HDF5_PLUGIN_PATH). Install the plugin, or rewrite the file with a built-in "
                "filter: h5repack -f GZIP=4 in.h5 out.h5 (h5py: compression='gzip')",
                file, name, label, static_cast<int>(id));
    }
  }
  return info;
}

template <class T>
void widen(const unsigned char* raw, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, raw + i * sizeof(T), sizeof(T));
    out[i] = static_cast<float>(v);
  }
}

std::optional<double> doubleAttribute(hid_t ds, const char* name) {
  if (H5Aexists(ds, name) <= 0) return std::nullopt;
  Hdf5Handle a(H5Aopen(ds, name, H5P_DEFAULT), H5Aclose);
  Hdf5Handle space(H5Aget_space(a.get()), H5Sclose);
  Hdf5Handle type(H5Aget_type(a.get()), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.get());
  if (H5Sget_simple_extent_npoints(space.get()) != 1 || (cls != H5T_INTEGER && cls != H5T_FLOAT)) return std::nullopt;
  double v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) return std::nullopt;
  return v;
}

}  // namespace

float halfToFloat(std::uint16_t h) {
  std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu, bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);  // Inf or NaN
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;  // signed zero
  } else {  // subnormal half: normalise
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400u) == 0);
    bits = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((mantissa & 0x3FFu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

Hdf5DatasetInfo inspectDataset(const Hdf5File& file, const std::string& dataset) {
  Hdf5Lock lock;
  KAON_CHECK(file.exists(dataset), "{}: no dataset '{}'", file.path(), dataset);
  Hdf5Handle ds(H5Dopen2(file.id(), dataset.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0) KAON_FAIL("{}: cannot open dataset '{}' ({})", file.path(), dataset, hdf5ErrorStack());
  return describe(ds.get(), file.path(), dataset);
}

void Hdf5RowReader::fail(const std::string& what) const {
  KAON_FAIL("{}: dataset '{}': {} ({})", file_->path(), dataset_, what, hdf5ErrorStack());
}

Hdf5RowReader::Hdf5RowReader(std::shared_ptr<const Hdf5File> file, const std::string& dataset,
                             std::vector<std::int64_t> columns, std::size_t chunkCacheBytes)
    : file_(std::move(file)), dataset_(dataset), columns_(std::move(columns)) {
  Hdf5Lock lock;
  const std::string& path = file_->path();
  if (!file_->exists(dataset_)) {
    hdf5ErrorStack();
    KAON_FAIL("{}: no dataset '{}' in this file", path, dataset_);
  }
  ds_ = Hdf5Handle(H5Dopen2(file_->id(), dataset_.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds_.get() < 0) fail("cannot open the dataset");
  info_ = describe(ds_.get(), path, dataset_);
  if (info_.chunked) {
    // Chunk cache, set by reopening. Unfiltered chunks: none, so HDF5 reads just the selected
    // rows from disk (a cached chunk is read whole: a shuffled batch would read a whole chunk
    // per sample). Compressed chunks must be decoded whole: cache at least two of them.
    std::size_t chunkBytes = H5Tget_size(Hdf5Handle(H5Dget_type(ds_.get()), H5Tclose).get());
    for (auto c : info_.chunk) chunkBytes *= static_cast<std::size_t>(c);
    std::size_t bytes = info_.filters.empty() ? 0 : std::max(chunkCacheBytes, 2 * chunkBytes);
    Hdf5Handle dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
    H5Pset_chunk_cache(dapl.get(), 10007, bytes, 1.0);  // many slots: chunks rarely collide
    ds_ = Hdf5Handle(H5Dopen2(file_->id(), dataset_.c_str(), dapl.get()), H5Dclose);
    if (ds_.get() < 0) fail("cannot open the dataset");
  }
  KAON_CHECK(!info_.dims.empty(), "{}: dataset '{}' is a scalar; samples must be stored along a first axis [N, ...]",
             path, dataset_);

  // Column selection along axis 1, as runs of consecutive columns.
  if (!columns_.empty()) {
    KAON_CHECK(info_.dims.size() >= 2, "{}: dataset '{}' has shape [{}]: a column selection needs [N, columns, ...]",
               path, dataset_, fmt::join(info_.dims, ", "));
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      std::int64_t c = columns_[i];
      KAON_CHECK(c >= 0 && c < info_.dims[1], "{}: dataset '{}': column {} is outside [0, {})", path, dataset_, c,
                 info_.dims[1]);
      KAON_CHECK(i == 0 || c > columns_[i - 1], "{}: dataset '{}': columns must be increasing and unique", path,
                 dataset_);
      if (i > 0 && c == columnRuns_.back().second) ++columnRuns_.back().second;
      else columnRuns_.push_back({c, c + 1});
    }
  }
  valuesPerRow_ = 1;
  for (auto d : rowShape()) valuesPerRow_ *= d;

  space_ = Hdf5Handle(H5Dget_space(ds_.get()), H5Sclose);
  Hdf5Handle type(H5Dget_type(ds_.get()), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_FLOAT && H5Tget_size(type.get()) == 2) {
    std::size_t spos, epos, esize, mpos, msize;
    H5Tget_fields(type.get(), &spos, &epos, &esize, &mpos, &msize);
    KAON_CHECK(esize == 5 && msize == 10 && H5Tget_ebias(type.get()) == 15,
               "{}: dataset '{}' holds a 16-bit float that is not IEEE half precision (bfloat16?); not supported", path,
               dataset_);
    convert_ = Convert::Half;
    rawSize_ = 2;
    memType_ = Hdf5Handle(H5Tcopy(type.get()), H5Tclose);
    H5Tset_order(memType_.get(), H5Tget_order(H5T_NATIVE_UINT16));  // HDF5 only swaps bytes, if at all
  } else if (cls == H5T_ENUM) {
    convert_ = Convert::Enum;
    rawSize_ = H5Tget_size(type.get());
    Hdf5Handle base(H5Tget_super(type.get()), H5Tclose);
    rawSigned_ = H5Tget_sign(base.get()) == H5T_SGN_2;
    memType_ = Hdf5Handle(H5Tget_native_type(type.get(), H5T_DIR_ASCEND), H5Tclose);
    if (memType_.get() < 0) fail("cannot map the enum type to a native type");
  }

  // netCDF-4 / CF conventions: packed values and missing-value markers.
  if (auto s = doubleAttribute(ds_.get(), "scale_factor")) scale_ = *s;
  if (auto o = doubleAttribute(ds_.get(), "add_offset")) offset_ = *o;
  if (auto f = doubleAttribute(ds_.get(), "_FillValue")) fill_ = static_cast<float>(*f);
  if (auto m = doubleAttribute(ds_.get(), "missing_value")) missing_ = static_cast<float>(*m);
  hdf5ErrorStack();  // attribute probes may leave entries behind
}

std::vector<std::int64_t> Hdf5RowReader::rowShape() const {
  std::vector<std::int64_t> s(info_.dims.begin() + 1, info_.dims.end());
  if (!columns_.empty()) s[0] = static_cast<std::int64_t>(columns_.size());
  return s;
}

void Hdf5RowReader::read(std::span<const std::int64_t> rows, float* out) const {
  if (rows.empty()) return;
  const std::int64_t total = info_.dims[0];
  std::vector<Block> blocks;
  for (std::size_t i = 0, j; i < rows.size(); i = j) {
    for (j = i + 1; j < rows.size() && rows[j] == rows[j - 1] + 1;) ++j;
    KAON_CHECK(rows[i] >= 0 && rows[j - 1] < total && (i == 0 || rows[i] > rows[i - 1]),
               "{}: dataset '{}': rows to read must be increasing and inside [0, {})", file_->path(), dataset_, total);
    blocks.push_back({rows[i], static_cast<std::int64_t>(j - i), static_cast<std::int64_t>(i)});
  }
  readBlocks(blocks, static_cast<std::int64_t>(rows.size()), out);
}

void Hdf5RowReader::readRange(std::int64_t begin, std::int64_t end, float* out) const {
  if (end <= begin) return;
  KAON_CHECK(begin >= 0 && end <= rows(), "{}: dataset '{}': rows [{}, {}) outside [0, {})", file_->path(), dataset_,
             begin, end, rows());
  readBlocks({{begin, end - begin, 0}}, end - begin, out);
}

// One H5Dread per (row run x column run): each a regular hyperslab in the file and in the
// memory space [nRows, row shape...]. HDF5 1.10 maps an irregular selection (a union of
// runs) onto chunks element by element, ~50x slower than regular blocks on chunked data.
void Hdf5RowReader::readBlocks(const std::vector<Block>& blocks, std::int64_t nRows, float* out) const {
  const auto n = static_cast<std::size_t>(nRows * valuesPerRow_);
  if (n == 0) return;
  Hdf5Lock lock;
  std::vector<hsize_t> memDims{static_cast<hsize_t>(nRows)};
  for (auto d : rowShape()) memDims.push_back(static_cast<hsize_t>(d));
  const int rank = static_cast<int>(memDims.size());
  Hdf5Handle memSpace(H5Screate_simple(rank, memDims.data(), nullptr), H5Sclose);
  Hdf5Handle fileSpace(H5Scopy(space_.get()), H5Sclose);
  thread_local std::vector<unsigned char> raw;
  void* dst = out;
  hid_t memType = H5T_NATIVE_FLOAT;  // HDF5 converts any integer/float type, either byte order
  if (convert_ != Convert::Hdf5) {
    raw.resize(n * rawSize_);
    dst = raw.data(), memType = memType_.get();
  }
  std::vector<hsize_t> fStart(static_cast<std::size_t>(rank), 0), mStart(fStart), count(memDims);
  const std::vector<std::pair<std::int64_t, std::int64_t>> all{{0, 0}};
  std::int64_t memColumn = 0;
  for (const Block& b : blocks) {
    fStart[0] = static_cast<hsize_t>(b.row), mStart[0] = static_cast<hsize_t>(b.outRow);
    count[0] = static_cast<hsize_t>(b.count);
    memColumn = 0;
    for (auto [c0, c1] : columnRuns_.empty() ? all : columnRuns_) {
      if (!columnRuns_.empty()) {
        fStart[1] = static_cast<hsize_t>(c0), mStart[1] = static_cast<hsize_t>(memColumn);
        count[1] = static_cast<hsize_t>(c1 - c0);
        memColumn += c1 - c0;
      }
      if (H5Sselect_hyperslab(fileSpace.get(), H5S_SELECT_SET, fStart.data(), nullptr, count.data(), nullptr) < 0 ||
          H5Sselect_hyperslab(memSpace.get(), H5S_SELECT_SET, mStart.data(), nullptr, count.data(), nullptr) < 0)
        fail("cannot select rows");
      if (H5Dread(ds_.get(), memType, memSpace.get(), fileSpace.get(), H5P_DEFAULT, dst) < 0)
        fail(fmt::format("cannot read rows [{}, {})", b.row, b.row + b.count));
    }
  }
  if (convert_ == Convert::Half) {
    for (std::size_t k = 0; k < n; ++k) {
      std::uint16_t h;
      std::memcpy(&h, raw.data() + 2 * k, 2);
      out[k] = halfToFloat(h);
    }
  } else if (convert_ == Convert::Enum) {
    if (rawSize_ == 1) rawSigned_ ? widen<std::int8_t>(raw.data(), out, n) : widen<std::uint8_t>(raw.data(), out, n);
    else if (rawSize_ == 2) rawSigned_ ? widen<std::int16_t>(raw.data(), out, n) : widen<std::uint16_t>(raw.data(), out, n);
    else if (rawSize_ == 4) rawSigned_ ? widen<std::int32_t>(raw.data(), out, n) : widen<std::uint32_t>(raw.data(), out, n);
    else rawSigned_ ? widen<std::int64_t>(raw.data(), out, n) : widen<std::uint64_t>(raw.data(), out, n);
  }
  unpack(out, n);
}

void Hdf5RowReader::unpack(float* out, std::size_t n) const {
  if (!fill_ && !missing_ && scale_ == 1 && offset_ == 0) return;
  const float nan = std::nanf("");
  for (std::size_t k = 0; k < n; ++k) {
    float v = out[k];
    // In double, as netCDF4-python unpacks, so both give the same float32.
    if ((fill_ && v == *fill_) || (missing_ && v == *missing_)) out[k] = nan;
    else out[k] = static_cast<float>(static_cast<double>(v) * scale_ + offset_);
  }
}

}  // namespace kaon::io
