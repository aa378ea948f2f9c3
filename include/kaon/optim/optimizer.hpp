#pragma once
// Optimizer: updates a model's flat parameter buffer from its flat gradient buffer.
//
// An optimizer is bound to (params, grads, trainable ranges) once; its state (momentum,
// Adam moments, ...) is flat too, shaped like the parameters, so checkpoints and the
// distributed strategies treat it as plain buffers. Frozen parameters are outside the
// trainable ranges and never touched. The learning rate comes from outside (a Schedule).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kaon/core/tensor.hpp"

namespace kaon::optim {

using Ranges = std::vector<std::pair<std::int64_t, std::int64_t>>;  // [offset, count)

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string_view name() const = 0;

  // Binds to the buffers; allocates zeroed state. Call once before step().
  void attach(const Tensor& params, const Tensor& grads, Ranges trainable);
  // One update with learning rate lr over every trainable range.
  void step(double lr);
  long long stepCount() const { return steps_; }

  // Named state tensors (flat, like the parameters) plus the step counter, for checkpoints.
  std::vector<std::pair<std::string, Tensor>> state() const;
  void setStepCount(long long steps) { steps_ = steps; }

 protected:
  // Names of the state buffers this optimizer needs (e.g. {"m", "v"}).
  virtual std::vector<std::string> stateNames() const = 0;
  // Updates one contiguous range; state tensors are the matching slices.
  virtual void update(double lr, const Tensor& param, const Tensor& grad, const std::vector<Tensor>& state) = 0;
  long long steps_ = 0;

 private:
  Tensor params_, grads_;
  Ranges ranges_;
  std::vector<std::pair<std::string, Tensor>> state_;
};

struct SgdOptions {
  double momentum = 0.0;
  bool nesterov = false;
  double weightDecay = 0.0;
};

class Sgd : public Optimizer {
 public:
  explicit Sgd(SgdOptions options = {});
  std::string_view name() const override { return "sgd"; }
  const SgdOptions& options() const { return options_; }

 protected:
  std::vector<std::string> stateNames() const override;
  void update(double lr, const Tensor& param, const Tensor& grad, const std::vector<Tensor>& state) override;

 private:
  SgdOptions options_;
};

}  // namespace kaon::optim
