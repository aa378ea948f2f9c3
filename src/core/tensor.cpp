#include "kaon/core/tensor.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "cuda_memory.hpp"
#include "device_stream.hpp"
#include "host_allocator.hpp"

namespace kaon {

// CPU blocks come from the caching host allocator (host_allocator.hpp): 64-byte aligned, reused
// only after this Storage, i.e. the last Tensor handle on it, is destroyed. Pinned blocks come
// from the CUDA host pool instead (falling back to the host allocator when there is none).
Storage::Storage(std::size_t bytes, Device device, bool pinned) : bytes_(bytes), device_(device) {
  if (device.isCpu() && pinned && bytes > 0) {
    data_ = detail::cudaHostAllocate(bytes);  // page-locked, from the host pool; null: none to be had
    pinned_ = data_ != nullptr;
  }
  if (pinned_) return;
  if (device.isCpu()) {
    detail::HostBlock b = detail::hostAllocate(bytes);
    data_ = b.ptr;
    hostClass_ = b.classBytes;
  } else {
    data_ = detail::cudaAllocate(bytes, device.index);
  }
}

Storage::~Storage() {
  if (pinned_)
    detail::cudaHostRelease(data_);
  else if (device_.isCpu())
    detail::hostRelease(detail::HostBlock{data_, hostClass_}, bytes_);
  else
    detail::cudaRelease(data_, device_.index);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(static_cast<std::size_t>(shape.numel()) * dtypeSize(dtype), device);
  return t;
}

Tensor Tensor::emptyPinned(const Shape& shape, DType dtype) {
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.storage_ = std::make_shared<Storage>(static_cast<std::size_t>(shape.numel()) * dtypeSize(dtype), Device::cpu(), true);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero();
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill(value);
  return t;
}

void* Tensor::raw() const {
  KAON_CHECK(defined(), "access to an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<std::int64_t>(dtypeSize(dtype_));
}

double Tensor::item(std::int64_t i) const {
  KAON_CHECK(i >= 0 && i < numel(), "item({}) out of range for shape {}", i, shape_.str());
  return dispatchFloat(dtype_, [&](auto t) { return static_cast<double>(span<decltype(t)>()[i]); });
}

Tensor Tensor::reshape(const Shape& shape) const {
  KAON_CHECK(shape.numel() == numel(), "cannot reshape {} to {}", shape_.str(), shape.str());
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::slice(std::int64_t begin, std::int64_t end) const {
  KAON_CHECK(rank() >= 1 && 0 <= begin && begin <= end && end <= dim(0),
             "slice [{}, {}) out of range for shape {}", begin, end, shape_.str());
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.offset_ += begin * shape_.count(1, rank());
  return t;
}

Tensor Tensor::clone() const { return to(device()); }

Tensor Tensor::to(Device device) const {
  Tensor t = empty(shape_, dtype_, device);
  t.copyFrom(*this);
  return t;
}

void Tensor::copyFrom(const Tensor& src) const {
  KAON_CHECK(src.shape() == shape_ && src.dtype() == dtype_, "copyFrom: {} {} into {} {}",
             dtypeName(src.dtype()), src.shape().str(), dtypeName(dtype_), shape_.str());
  if (bytes() == 0) return;
  if (device().isCpu() && src.device().isCpu())
    std::memcpy(raw(), src.raw(), bytes());
  else
    detail::cudaCopy(raw(), device(), src.raw(), src.device(), bytes());
}

Tensor Tensor::cast(DType dtype) const {
  if (dtype == dtype_) return clone();
  KAON_CHECK(device().isCpu(), "cast() runs on CPU tensors");
  Tensor out = empty(shape_, dtype);
  dispatchFloat(dtype_, [&](auto s) {
    dispatchFloat(dtype, [&](auto d) {
      using S = decltype(s);
      using D = decltype(d);
      const S* in = data<S>();
      D* o = out.data<D>();
      for (std::int64_t i = 0; i < numel(); ++i) o[i] = static_cast<D>(in[i]);
    });
  });
  return out;
}

void Tensor::fill(double value) const {
  KAON_CHECK(device().isCpu(), "fill() runs on CPU tensors; use ops on {}", device().str());
  dispatchFloat(dtype_, [&](auto t) {
    using T = decltype(t);
    std::fill_n(data<T>(), numel(), static_cast<T>(value));
  });
}

void Tensor::zero() const {
  if (bytes() == 0) return;
  if (device().isCpu())
    std::memset(raw(), 0, bytes());
  else
    detail::cudaZero(raw(), bytes(), device().index);
}

}  // namespace kaon
