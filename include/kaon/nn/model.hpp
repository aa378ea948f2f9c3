#pragma once
// Model: a DAG of named layers with named inputs and one or more outputs.
//
// Nodes are added in topological order (a layer's inputs must already exist); sequential
// models just omit `inputs`. After build() every parameter lives in one flat contiguous
// buffer per model (and every gradient in another, in the same order), so optimizers,
// allreduce, EASGD and checkpoints work on whole buffers.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kaon/core/precision.hpp"
#include "kaon/nn/layer.hpp"

namespace kaon::nn {

struct BackwardOptions {
  bool accumulateParamGrads = true;  // false: only propagate (GAN generator through a discriminator)
  bool wantInputGrads = false;       // return dL/dinput for each model input
};

// Fired during backward, once per parameter, as soon as its gradient is final for this pass.
struct GradientReady {
  const Layer* layer;
  const Parameter* parameter;
  std::int64_t offset;  // in the flat gradient buffer
  std::int64_t count;
};

class Model {
 public:
  Model() = default;
  Model(Model&&) = default;
  Model& operator=(Model&&) = default;

  // ---- graph construction ----
  void addInput(const std::string& name, const Shape& perSampleShape);
  // inputs: names of model inputs or earlier layers; empty means the previous node.
  Layer& add(std::unique_ptr<Layer> layer, std::vector<std::string> inputs = {});
  void setOutputs(std::vector<std::string> names);  // default: the last layer
  // Infers shapes, allocates the flat buffers on `device` and initialises parameters from
  // `seed` (always on the CPU, then copied, so every device starts from identical values).
  void build(DType dtype = DType::Float32, std::uint64_t seed = 0, Device device = Device::cpu());
  Device device() const { return params_.defined() ? params_.device() : Device::cpu(); }
  bool built() const { return built_; }

  // ---- precision (after build; see kaon/core/precision.hpp) ----
  // bf16/fp16: the flat parameter and gradient buffers stay fp32 (the master copy the optimizer,
  // allreduce, clipping and checkpoints see); the layers compute on a low-precision copy of the
  // weights, refreshed from the master at every forward, with low-precision activations and
  // gradients. Inputs and output gradients are given in fp32 and converted; outputs are
  // returned in fp32; each parameter's gradient is converted to the fp32 buffer (divided by the
  // gradient scale) before its GradientReady fires. fp32 and tf32 leave the model as it is.
  // GPU models only (a CPU model accepts fp32 alone). Layers that compute in fp32
  // (Layer::computesInFloat32: batch norm) keep fp32 parameters, buffers and activations; the
  // model converts around them. Other layers with buffers are refused in bf16/fp16.
  void setPrecision(Precision precision);
  Precision precision() const { return precision_; }
  DType computeDType() const { return kaon::computeDType(precision_); }
  // Loss scaling: output gradients are multiplied by `scale` when converted to the compute
  // dtype, parameter (and input) gradients divided by it on the way back (mixed precision only).
  void setGradientScale(double scale) { gradScale_ = scale; }
  double gradientScale() const { return gradScale_; }

  // ---- execution ----
  // Several inputs/outputs, in the order of inputNames()/outputNames().
  std::vector<Tensor> forwardMulti(const std::vector<Tensor>& inputs, bool training);
  // Returns dL/dinput per model input when options.wantInputGrads, else nothing.
  std::vector<Tensor> backwardMulti(const std::vector<Tensor>& outputGrads, const BackwardOptions& options = {});
  // One input, one output.
  Tensor forward(const Tensor& input, bool training);
  Tensor backward(const Tensor& outputGrad, const BackwardOptions& options = {});
  void zeroGrad();
  void releaseSaved();
  void setGradientReadyCallback(std::function<void(const GradientReady&)> callback) {
    gradientReady_ = std::move(callback);
  }

  // ---- parameters ----
  const Tensor& parameters() const { return params_; }  // flat [P]
  const Tensor& gradients() const { return grads_; }    // flat [P]
  const Tensor& buffers() const { return buffers_; }    // flat [B]
  std::int64_t parameterCount() const { return params_.defined() ? params_.numel() : 0; }
  std::int64_t trainableCount() const;
  // [offset, offset+count) ranges of trainable (non-frozen) parameters, merged where adjacent.
  std::vector<std::pair<std::int64_t, std::int64_t>> trainableRanges() const;
  struct NamedParameter {
    std::string name;  // "layer.param"
    const Parameter* parameter;
    const Layer* layer;
  };
  std::vector<NamedParameter> namedParameters() const;
  std::vector<std::pair<std::string, const Buffer*>> namedBuffers() const;
  void setFrozen(const std::string& layerName, bool frozen);
  std::uint64_t forwardStep() const { return step_; }
  // Seed of stochastic layers (dropout); defaults to the build seed. Data-parallel ranks set
  // their own so their masks differ.
  void setStochasticSeed(std::uint64_t seed) { seed_ = seed; }
  void setForwardStep(std::uint64_t step) { step_ = step; }
  // Layers that support it (batch_norm with sync) compute their training statistics over all
  // replicas through `reducer` (null: each replica alone). Not owned; must outlive its use.
  void setReplicaReducer(ReplicaReducer* reducer) { replicas_ = reducer; }
  ReplicaReducer* replicaReducer() const { return replicas_; }

  // ---- structure ----
  Layer& layer(const std::string& name);
  std::size_t layerCount() const { return nodes_.size(); }
  Layer& layerAt(std::size_t i) { return *nodes_[i].layer; }
  const std::vector<std::string>& inputNames() const { return inputNames_; }
  const std::vector<Shape>& inputShapes() const { return inputShapes_; }
  const std::vector<std::string>& outputNames() const { return outputNames_; }
  std::vector<Shape> outputShapes() const;
  // Keras-style table: layer (type), output shape, parameters, inputs; then totals.
  std::string summary() const;

 private:
  struct Node {
    std::unique_ptr<Layer> layer;
    std::vector<int> inputs;  // >= 0: node index, < 0: model input -(i+1)
    Shape outputShape;        // per sample
  };
  int resolve(const std::string& name) const;  // node index or -(input+1)
  void checkBuilt(const char* what) const;

  std::vector<std::string> inputNames_;
  std::vector<Shape> inputShapes_;
  std::vector<Node> nodes_;
  std::vector<std::string> outputNames_;
  std::vector<int> outputs_;  // node indices
  Tensor params_, grads_, buffers_;
  Precision precision_ = Precision::Fp32;
  Tensor computeParams_, computeGrads_;  // mixed precision: low-precision copies the layers use
  double gradScale_ = 1.0;
  bool built_ = false;
  std::uint64_t seed_ = 0, step_ = 0;
  ReplicaReducer* replicas_ = nullptr;
  std::vector<Tensor> activations_;  // node outputs of the last forward
  std::vector<Tensor> lastInputs_;
  std::function<void(const GradientReady&)> gradientReady_;
};

}  // namespace kaon::nn
