#pragma once
// Tensor: a value-type handle to shared storage + shape + dtype + device.
//
// Tensors are always dense and row-major (C order); a view shares storage at an element offset
// (reshape, slicing along the first axis). Copying a Tensor copies the handle, not the data:
// use clone() for a deep copy and to(device) to move between devices. Nothing syncs implicitly.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kaon/core/device.hpp"
#include "kaon/core/dtype.hpp"
#include "kaon/core/error.hpp"
#include "kaon/core/shape.hpp"

namespace kaon {

// Raw memory block. CPU blocks are 64-byte aligned (one AVX-512 register, one cache line) and
// come from the caching host allocator (kaon/core/runtime.hpp: hostMemoryStats, setHostCaching);
// pinned CPU blocks are page-locked (when the CUDA backend and a driver are present) so that
// copies to and from a GPU can run asynchronously.
class Storage {
 public:
  Storage(std::size_t bytes, Device device, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
  std::size_t hostClass_ = 0;  // CPU: the block's size class in the host cache (0: not cached)
  Device device_;
  bool pinned_ = false;
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor: defined() is false

  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32);
  // Host tensor in page-locked memory (staging for GPU transfers); plain host memory when the
  // build has no CUDA backend or no driver is found (pinned() then says false).
  static Tensor emptyPinned(const Shape& shape, DType dtype = DType::Float32);
  template <class T>
  static Tensor fromVector(const Shape& shape, const std::vector<T>& values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  std::int64_t dim(int axis) const { return shape_[axis]; }
  std::int64_t numel() const { return shape_.numel(); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  bool pinned() const { return storage_ && storage_->pinned(); }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * dtypeSize(dtype_); }

  void* raw() const;
  template <class T>
  T* data() const {
    KAON_CHECK(kDTypeOf<T> == dtype_, "tensor holds {}, accessed as {}", dtypeName(dtype_),
               dtypeName(kDTypeOf<T>));
    return static_cast<T*>(raw());
  }
  // Host-side element access for tests and small bookkeeping; the tensor must be on the CPU.
  template <class T>
  std::span<T> span() const {
    KAON_CHECK(device().isCpu(), "span() needs a CPU tensor, this one is on {}", device().str());
    return {data<T>(), static_cast<std::size_t>(numel())};
  }
  double item(std::int64_t flatIndex = 0) const;  // CPU float tensors only
  template <class T>
  std::vector<T> toVector() const;

  // Views sharing storage.
  Tensor reshape(const Shape& shape) const;          // same numel
  Tensor slice(std::int64_t begin, std::int64_t end) const;  // along axis 0
  Tensor flatView() const { return reshape(Shape{numel()}); }

  // Deep copies.
  Tensor clone() const;
  Tensor to(Device device) const;
  Tensor cast(DType dtype) const;  // CPU, between float32 and float64
  void copyFrom(const Tensor& src) const;  // same shape & dtype, any devices
  void fill(double value) const;
  void zero() const;

  bool sameStorage(const Tensor& o) const { return storage_ == o.storage_; }

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_;
  std::int64_t offset_ = 0;  // in elements
  DType dtype_ = DType::Float32;
};

template <class T>
Tensor Tensor::fromVector(const Shape& shape, const std::vector<T>& values) {
  KAON_CHECK(static_cast<std::int64_t>(values.size()) == shape.numel(),
             "fromVector: {} values for shape {}", values.size(), shape.str());
  Tensor t = empty(shape, kDTypeOf<T>);
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

template <class T>
std::vector<T> Tensor::toVector() const {
  auto s = span<T>();
  return {s.begin(), s.end()};
}

// Calls f(T{}) with T the C++ type of a floating dtype; the common kernel dispatch.
template <class F>
decltype(auto) dispatchFloat(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    default: KAON_FAIL("not implemented: CPU kernels for dtype {}", dtypeName(dtype));
  }
}

}  // namespace kaon
