#pragma once
// Writes sample datasets [N, ...] to an HDF5 file in slices (kaon-datagen, benchmarks, tests):
// datasets are created at their full size first, then filled by row ranges, so a generator can
// write block by block and MPI ranks can take turns writing their disjoint slices. Files are
// plain HDF5 that h5py reads directly.
#include <cstdint>
#include <memory>
#include <string>

#include "kaon/core/tensor.hpp"

namespace kaon::io {
class Hdf5File;
}

namespace kaon::data {

struct SampleLayout {
  std::int64_t chunkSamples = 0;  // 0: contiguous; otherwise chunks of this many samples
  int gzip = 0;                   // deflate level 1-9 (needs chunks); 0: uncompressed
  bool shuffle = false;           // byte shuffle before deflate (needs chunks)
};

class SampleFile {
 public:
  enum class Mode { Create, Append };  // Create truncates; Append opens an existing file
  SampleFile(const std::string& path, Mode mode);
  ~SampleFile();
  SampleFile(const SampleFile&) = delete;
  SampleFile& operator=(const SampleFile&) = delete;

  // Creates dataset `name` of shape [samples, perSample...] (dtype Float32, Float64, Int32,
  // Int64 or UInt8) with the given storage layout; `description` and `units` become attributes.
  void createDataset(const std::string& name, const Shape& perSample, std::int64_t samples, const SampleLayout& layout,
                     DType dtype = DType::Float32, const std::string& description = "", const std::string& units = "");
  // Writes t ([k, perSample...], the dataset's dtype, CPU) to rows [first, first + k) of `name`.
  void writeRows(const std::string& name, std::int64_t first, const Tensor& t);

  void setAttribute(const std::string& name, const std::string& value, const std::string& object = "/");
  void setAttribute(const std::string& name, double value, const std::string& object = "/");
  void setAttribute(const std::string& name, std::int64_t value, const std::string& object = "/");
  const std::string& path() const { return path_; }
  void close();  // flushes; also done by the destructor

 private:
  std::string path_;
  std::unique_ptr<io::Hdf5File> file_;
};

}  // namespace kaon::data
