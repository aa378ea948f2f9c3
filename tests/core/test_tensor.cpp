// Tensor handle semantics: shapes, views, copies, alignment, dtype checks.
#include <gtest/gtest.h>

#include <cstdint>

#include "kaon/core/runtime.hpp"
#include "kaon/core/tensor.hpp"

namespace kaon {
namespace {

TEST(Shape, BasicsAndErrors) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.rank(), 3);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s[-1], 4);
  EXPECT_EQ(s.str(), "[2, 3, 4]");
  EXPECT_EQ(s.dropFirst(), (Shape{3, 4}));
  EXPECT_EQ(s.dropFirst().prepend(7), (Shape{7, 3, 4}));
  EXPECT_THROW((Shape{1, 2, 3, 4, 5, 6}), Error);  // rank > 5
  EXPECT_THROW((Shape{2, -1}), Error);
  EXPECT_THROW(s[3], Error);
}

TEST(Tensor, AllocationIsAlignedAndZeroed) {
  for (std::int64_t n : {1, 3, 17, 1000}) {
    Tensor t = Tensor::zeros(Shape{n});
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw()) % 64, 0u);
    for (float v : t.span<float>()) EXPECT_EQ(v, 0.0f);
  }
}

TEST(Tensor, ViewsShareStorageAndClonesDoNot) {
  Tensor t = Tensor::fromVector<float>(Shape{3, 2}, {0, 1, 2, 3, 4, 5});
  Tensor row = t.slice(1, 3);
  EXPECT_EQ(row.shape(), (Shape{2, 2}));
  EXPECT_EQ(row.toVector<float>(), (std::vector<float>{2, 3, 4, 5}));
  row.span<float>()[0] = 42;
  EXPECT_EQ(t.span<float>()[2], 42);  // view writes through
  Tensor c = t.clone();
  c.span<float>()[0] = -1;
  EXPECT_EQ(t.span<float>()[0], 0);  // clone does not
  EXPECT_EQ(t.reshape(Shape{6}).toVector<float>()[5], 5);
  EXPECT_THROW(t.reshape(Shape{4}), Error);
  EXPECT_THROW(t.slice(2, 4), Error);
}

TEST(Tensor, DtypeChecksAndCasts) {
  Tensor t = Tensor::fromVector<float>(Shape{2}, {1.5f, -2.0f});
  EXPECT_THROW(t.data<double>(), Error);
  Tensor d = t.cast(DType::Float64);
  EXPECT_EQ(d.dtype(), DType::Float64);
  EXPECT_EQ(d.toVector<double>(), (std::vector<double>{1.5, -2.0}));
  EXPECT_EQ(dtypeSize(DType::BFloat16), 2u);
  EXPECT_EQ(dtypeFromName("float16"), DType::Float16);
  EXPECT_THROW(dtypeFromName("float128"), Error);
  Tensor h = Tensor::empty(Shape{3}, DType::BFloat16);  // representable, not computable on CPU
  EXPECT_EQ(h.bytes(), 6u);
  EXPECT_THROW(h.fill(1.0), Error);
}

TEST(Tensor, CudaTensorsFailClearlyWithoutAGpu) {
  if (cudaDeviceCount() > 0) GTEST_SKIP() << "a GPU is present";
  EXPECT_THROW(Tensor::empty(Shape{4}, DType::Float32, Device::cuda(0)), Error);
}

TEST(Runtime, ThreadCountIsConfigurable) {
  int original = numThreads();
  EXPECT_GE(original, 1);
  setNumThreads(1);
  EXPECT_EQ(numThreads(), 1);
  setNumThreads(0);
  EXPECT_EQ(numThreads(), original);
}

}  // namespace
}  // namespace kaon
