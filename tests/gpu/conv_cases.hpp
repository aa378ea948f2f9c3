#pragma once
// Convolution cases of the GPU tests and their check against the CPU backend, shared by the
// tests of each convolution path (cuDNN engines, channels-last, FFT, ...).
#include "gpu_util.hpp"
#include "kaon/ops/conv.hpp"
#include "kaon/ops/convert.hpp"

namespace kaon::gputest {

struct ConvCase {
  const char* label;
  Shape x, w;
  ops::ConvParams p;
};

// Forward with bias, data gradient and accumulated (beta 0.5: the plan must accumulate) filter
// and bias gradients of one case on the GPU against the CPU backend, FP32, within `tol`.
inline void expectConvMatchesCpu(const ConvCase& c, double tol) {
  SCOPED_TRACE(c.label);
  using testing::randomTensor;
  Tensor x = randomTensor(c.x, 1), w = randomTensor(c.w, 2), b = randomTensor(Shape{c.w[0]}, 3);
  Tensor y = ops::conv(x, w, b, c.p);
  Tensor dy = randomTensor(y.shape(), 4);
  Tensor dx = ops::convBackwardData(dy, w, x.shape(), c.p);
  Tensor dw = randomTensor(w.shape(), 5), db = randomTensor(b.shape(), 6);
  Tensor dwG = toGpu(dw), dbG = toGpu(db);
  ops::convBackwardParams(x, dy, dw, db, 0.5, c.p);

  Tensor xG = toGpu(x), wG = toGpu(w), dyG = toGpu(dy);
  EXPECT_GPU_CLOSE(ops::conv(xG, wG, toGpu(b), c.p), y, tol);
  EXPECT_GPU_CLOSE(ops::convBackwardData(dyG, wG, x.shape(), c.p), dx, tol);
  ops::convBackwardParams(xG, dyG, dwG, dbG, 0.5, c.p);
  EXPECT_GPU_CLOSE(dwG, dw, tol);
  EXPECT_GPU_CLOSE(dbG, db, tol);
}

// A convolution with environment variable `name` set to the unknown `value` must fail with an
// error that names the variable (dtype: bf16 reaches the paths only tensor-core math takes).
inline void expectUnknownChoiceRejected(const char* name, const char* value, DType dtype = DType::Float32) {
  testing::ScopedEnv env(name, value);
  Tensor x = ops::toDType(toGpu(testing::randomTensor(Shape{1, 2, 5, 5}, 1)), dtype);
  Tensor w = ops::toDType(toGpu(testing::randomTensor(Shape{2, 2, 2, 2}, 2)), dtype);
  try {
    ops::conv(x, w, Tensor(), ops::ConvParams{{1}, {}, {1}, {0}});
    ADD_FAILURE() << "expected an error for " << name << "=" << value;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

}  // namespace kaon::gputest
