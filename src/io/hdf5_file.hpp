#pragma once
// Thin RAII layer over the HDF5 C API for Kaon's own files (checkpoints, datasets).
// Every failing call throws kaon::Error naming the file and object, with HDF5's own error
// stack folded into the message (nothing is printed to stderr).
#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kaon/core/tensor.hpp"

namespace kaon::io {

// Owns one hid_t and closes it with the right H5*close function.
class Hdf5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Hdf5Handle() = default;
  Hdf5Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Hdf5Handle() { reset(); }
  Hdf5Handle(Hdf5Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Hdf5Handle& operator=(Hdf5Handle&& o) noexcept;
  Hdf5Handle(const Hdf5Handle&) = delete;
  Hdf5Handle& operator=(const Hdf5Handle&) = delete;
  hid_t get() const { return id_; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

class Hdf5File {
 public:
  enum class Mode { Read, ReadWrite, Truncate };  // ReadWrite: an existing file
  Hdf5File(const std::string& path, Mode mode);
  const std::string& path() const { return path_; }
  hid_t id() const { return file_.get(); }

  bool exists(const std::string& objectPath) const;
  // Writes a CPU float32/float64/int32/int64 tensor as a dataset; parent groups are created.
  void writeTensor(const std::string& objectPath, const Tensor& t);
  // Reads a whole dataset, converted to `dtype` by HDF5.
  Tensor readTensor(const std::string& objectPath, DType dtype = DType::Float32) const;
  std::vector<std::int64_t> datasetShape(const std::string& objectPath) const;

  // Attributes on the root group (or on an object path).
  void writeAttribute(const std::string& name, std::int64_t value, const std::string& objectPath = "/");
  void writeAttribute(const std::string& name, double value, const std::string& objectPath = "/");
  void writeAttribute(const std::string& name, const std::string& value, const std::string& objectPath = "/");
  std::int64_t readIntAttribute(const std::string& name, const std::string& objectPath = "/") const;
  double readDoubleAttribute(const std::string& name, const std::string& objectPath = "/") const;
  std::string readStringAttribute(const std::string& name, const std::string& objectPath = "/") const;
  bool hasAttribute(const std::string& name, const std::string& objectPath = "/") const;

  void flush();
  void close() { file_.reset(); }

 private:
  hid_t ensureGroups(const std::string& objectPath);
  std::string path_;
  Hdf5Handle file_;
};

// Process-wide lock held around every Kaon HDF5 call. The data loader reads in a background
// thread while the trainer writes checkpoints; an HDF5 library built without thread safety
// must never be entered by two threads (a thread-safe build serialises internally anyway).
// Recursive: Kaon's HDF5 helpers call each other.
std::recursive_mutex& hdf5Mutex();
class Hdf5Lock {
 public:
  Hdf5Lock() : lock_(hdf5Mutex()) {}

 private:
  std::lock_guard<std::recursive_mutex> lock_;
};

// HDF5's current error stack as one line ("H5Fopen: unable to open file: ..."), then cleared.
std::string hdf5ErrorStack();
// Silences HDF5's automatic stderr printing for this process (idempotent).
void silenceHdf5Errors();

}  // namespace kaon::io
