#pragma once
// Layer: owns named parameters, infers its output shape, and runs forward/backward by calling
// ops only (no device code here).
//
// Contract, in call order:
//   1. build(inputShapes)   once, per-sample shapes (no batch axis); declares parameters.
//   2. Model::build binds every Parameter's value/grad to views of the model's flat buffers
//      and initialises them.
//   3. forward(inputs, ctx) inputs are [N, *shape]; the layer saves what backward needs.
//   4. backward(dy, ctx)    accumulates (+=) parameter gradients when ctx.accumulateParamGrads
//                           and the layer is not frozen; returns dL/dinput for each input
//                           (undefined where ctx.needInputGrad[i] is false).
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "kaon/core/tensor.hpp"
#include "kaon/nn/init.hpp"

namespace kaon::nn {

struct Parameter {
  std::string name;  // "weight", "bias", ...
  Shape shape;
  Init init = Init::Zeros;
  Tensor value;  // view of the model's flat parameter buffer
  Tensor grad;   // view of the model's flat gradient buffer
  std::int64_t offset = 0;  // element offset in the flat buffers
};

// Non-trainable state saved with the model (batch-norm running statistics).
struct Buffer {
  std::string name;
  Shape shape;
  Init init = Init::Zeros;
  Tensor value;  // view of the model's flat buffer of buffers
  std::int64_t offset = 0;
};

// Sums tensors over the replicas of a data-parallel job, for layers whose training forward and
// backward need statistics of the whole global batch (synchronised batch norm). The training
// layer (train/) implements it over its communicator, so nn/ knows nothing of ranks. Every
// replica must call sum() in the same order with tensors of the same size.
class ReplicaReducer {
 public:
  virtual ~ReplicaReducer() = default;
  virtual void sum(const Tensor& t) = 0;  // in place; on the tensor's device
};

struct ForwardContext {
  bool training = false;
  std::uint64_t seed = 0;  // with step and the layer's index: the dropout stream
  std::uint64_t step = 0;  // counts training forwards of the model
  int layerIndex = 0;
  ReplicaReducer* replicas = nullptr;  // set while a data-parallel trainer synchronises batch norm
};

struct BackwardContext {
  bool accumulateParamGrads = true;
  std::vector<bool> needInputGrad;  // one per input
  ReplicaReducer* replicas = nullptr;  // as in ForwardContext
};

class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const std::string& name() const { return name_; }
  virtual std::string_view type() const = 0;
  virtual int minInputs() const { return 1; }
  virtual int maxInputs() const { return 1; }

  virtual Shape build(const std::vector<Shape>& inputShapes) = 0;
  virtual Tensor forward(const std::vector<Tensor>& inputs, const ForwardContext& ctx) = 0;
  virtual std::vector<Tensor> backward(const Tensor& gradOutput, const BackwardContext& ctx) = 0;
  // Drops saved activations (after backward, or for inference-only use).
  virtual void releaseSaved() {}
  // Short description for the model summary, e.g. "3x3 s1 same, relu".
  virtual std::string describe() const { return {}; }
  // Mixed precision (bf16/fp16 models): whether this layer computes in float32 between
  // low-precision neighbours (batch norm: statistics, running buffers and normalisation in fp32).
  // The model then hands it fp32 inputs and an unscaled fp32 output gradient, converts what it
  // returns back to the compute dtype, and binds its parameters to the fp32 master buffers.
  virtual bool computesInFloat32() const { return false; }

  std::deque<Parameter>& parameters() { return params_; }
  const std::deque<Parameter>& parameters() const { return params_; }
  std::deque<Buffer>& buffers() { return buffers_; }
  const std::deque<Buffer>& buffers() const { return buffers_; }
  Parameter& parameter(std::string_view name);
  std::int64_t parameterCount() const;

  bool frozen() const { return frozen_; }
  void setFrozen(bool frozen) { frozen_ = frozen; }
  // Whether backward should write parameter gradients in this call.
  bool updatesParams(const BackwardContext& ctx) const { return ctx.accumulateParamGrads && !frozen_; }

 protected:
  // References stay valid: parameters live in a deque.
  Parameter& addParameter(std::string name, Shape shape, Init init);
  Buffer& addBuffer(std::string name, Shape shape, Init init);
  // Throws unless inputs.size() is within [minInputs, maxInputs] and shapes match build().
  void checkInputs(const std::vector<Tensor>& inputs) const;
  const std::vector<Shape>& inputShapes() const { return inputShapes_; }
  void setInputShapes(const std::vector<Shape>& shapes) { inputShapes_ = shapes; }

 private:
  std::string name_;
  std::deque<Parameter> params_;
  std::deque<Buffer> buffers_;
  std::vector<Shape> inputShapes_;
  bool frozen_ = false;
};

}  // namespace kaon::nn
