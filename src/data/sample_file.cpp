#include "kaon/data/sample_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "../io/hdf5_file.hpp"

namespace kaon::data {
namespace {

hid_t fileType(DType t) {
  switch (t) {
    case DType::Float32: return H5T_IEEE_F32LE;
    case DType::Float64: return H5T_IEEE_F64LE;
    case DType::Int32: return H5T_STD_I32LE;
    case DType::Int64: return H5T_STD_I64LE;
    case DType::UInt8: return H5T_STD_U8LE;
    default: KAON_FAIL("sample file: cannot store dtype {}", dtypeName(t));
  }
}

hid_t memoryType(DType t) {
  switch (t) {
    case DType::Float32: return H5T_NATIVE_FLOAT;
    case DType::Float64: return H5T_NATIVE_DOUBLE;
    case DType::Int32: return H5T_NATIVE_INT32;
    case DType::Int64: return H5T_NATIVE_INT64;
    case DType::UInt8: return H5T_NATIVE_UINT8;
    default: KAON_FAIL("sample file: cannot store dtype {}", dtypeName(t));
  }
}

}  // namespace

SampleFile::SampleFile(const std::string& path, Mode mode)
    : path_(path),
      file_(std::make_unique<io::Hdf5File>(path, mode == Mode::Create ? io::Hdf5File::Mode::Truncate
                                                                       : io::Hdf5File::Mode::ReadWrite)) {}

SampleFile::~SampleFile() = default;

void SampleFile::createDataset(const std::string& name, const Shape& perSample, std::int64_t samples,
                               const SampleLayout& layout, DType dtype, const std::string& description,
                               const std::string& units) {
  io::Hdf5Lock lock;
  KAON_CHECK(file_, "{}: the sample file is closed", path_);
  KAON_CHECK(samples >= 0, "{}: dataset '{}' needs samples >= 0", path_, name);
  KAON_CHECK(layout.chunkSamples > 0 || (layout.gzip == 0 && !layout.shuffle),
             "{}: dataset '{}': gzip and shuffle need chunked storage (chunk samples > 0)", path_, name);
  KAON_CHECK(layout.gzip >= 0 && layout.gzip <= 9, "{}: gzip level must be in [0, 9], got {}", path_, layout.gzip);
  std::vector<hsize_t> dims{static_cast<hsize_t>(samples)};
  for (auto d : perSample.dims()) dims.push_back(static_cast<hsize_t>(d));
  io::Hdf5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  io::Hdf5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (layout.chunkSamples > 0 && samples > 0) {
    std::vector<hsize_t> chunk = dims;
    chunk[0] = static_cast<hsize_t>(std::min(layout.chunkSamples, samples));
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    if (layout.shuffle) H5Pset_shuffle(dcpl.get());
    if (layout.gzip > 0) H5Pset_deflate(dcpl.get(), static_cast<unsigned>(layout.gzip));
  }
  io::Hdf5Handle ds(H5Dcreate2(file_->id(), name.c_str(), fileType(dtype), space.get(), H5P_DEFAULT, dcpl.get(),
                               H5P_DEFAULT),
                    H5Dclose);
  if (ds.get() < 0) KAON_FAIL("{}: cannot create dataset '{}' ({})", path_, name, io::hdf5ErrorStack());
  ds.reset();
  if (!description.empty()) file_->writeAttribute("description", description, name);
  if (!units.empty()) file_->writeAttribute("units", units, name);
}

void SampleFile::writeRows(const std::string& name, std::int64_t first, const Tensor& t) {
  io::Hdf5Lock lock;
  KAON_CHECK(file_, "{}: the sample file is closed", path_);
  KAON_CHECK(t.device().isCpu() && t.rank() >= 1, "{}: dataset '{}': rows must be a CPU tensor [k, ...]", path_, name);
  io::Hdf5Handle ds(H5Dopen2(file_->id(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds.get() < 0) KAON_FAIL("{}: no dataset '{}' to write ({})", path_, name, io::hdf5ErrorStack());
  io::Hdf5Handle space(H5Dget_space(ds.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  KAON_CHECK(rank == t.rank(), "{}: dataset '{}' has {} axes, the rows {}", path_, name, rank, t.shape().str());
  for (int a = 1; a < rank; ++a)
    KAON_CHECK(static_cast<std::int64_t>(dims[static_cast<std::size_t>(a)]) == t.dim(a),
               "{}: dataset '{}': rows of shape {} do not fit", path_, name, t.shape().str());
  KAON_CHECK(first >= 0 && first + t.dim(0) <= static_cast<std::int64_t>(dims[0]),
             "{}: dataset '{}': rows [{}, {}) outside [0, {})", path_, name, first, first + t.dim(0), dims[0]);
  if (t.dim(0) == 0) return;
  std::vector<hsize_t> start(static_cast<std::size_t>(rank), 0), count = dims;
  start[0] = static_cast<hsize_t>(first);
  count[0] = static_cast<hsize_t>(t.dim(0));
  H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  io::Hdf5Handle mem(H5Screate_simple(rank, count.data(), nullptr), H5Sclose);
  if (H5Dwrite(ds.get(), memoryType(t.dtype()), mem.get(), space.get(), H5P_DEFAULT, t.raw()) < 0)
    KAON_FAIL("{}: cannot write rows [{}, {}) of '{}' ({})", path_, first, first + t.dim(0), name, io::hdf5ErrorStack());
}

void SampleFile::setAttribute(const std::string& name, const std::string& value, const std::string& object) {
  KAON_CHECK(file_, "{}: the sample file is closed", path_);
  file_->writeAttribute(name, value, object);
}
void SampleFile::setAttribute(const std::string& name, double value, const std::string& object) {
  KAON_CHECK(file_, "{}: the sample file is closed", path_);
  file_->writeAttribute(name, value, object);
}
void SampleFile::setAttribute(const std::string& name, std::int64_t value, const std::string& object) {
  KAON_CHECK(file_, "{}: the sample file is closed", path_);
  file_->writeAttribute(name, value, object);
}

void SampleFile::close() {
  if (!file_) return;
  file_->flush();
  file_.reset();
}

}  // namespace kaon::data
