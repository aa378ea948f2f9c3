#include "kaon/nn/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "kaon/ops/convert.hpp"
#include "kaon/ops/elementwise.hpp"

namespace kaon::nn {
namespace {
// A tf32 model turns the process-wide TF32 switch on for its own forward and backward passes.
struct Tf32Scope {
  bool active, previous;
  explicit Tf32Scope(Precision p) : active(p == Precision::Tf32), previous(tf32Allowed()) {
    if (active) setTf32Allowed(true);
  }
  ~Tf32Scope() {
    if (active) setTf32Allowed(previous);
  }
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;
};
}  // namespace

void Model::addInput(const std::string& name, const Shape& shape) {
  KAON_CHECK(!built_, "cannot add input '{}' to a built model", name);
  KAON_CHECK(shape.rank() >= 1 && shape.rank() < Shape::kMaxRank,
             "input '{}' needs a per-sample shape of 1 to {} axes, got {}", name, Shape::kMaxRank - 1, shape.str());
  KAON_CHECK(resolve(name) == 0 && std::find(inputNames_.begin(), inputNames_.end(), name) == inputNames_.end(),
             "duplicate name '{}' in model", name);
  inputNames_.push_back(name);
  inputShapes_.push_back(shape);
}

int Model::resolve(const std::string& name) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].layer->name() == name) return static_cast<int>(i) + 1;  // +1: 0 means "not found"
  for (std::size_t i = 0; i < inputNames_.size(); ++i)
    if (inputNames_[i] == name) return -static_cast<int>(i) - 1;
  return 0;
}

Layer& Model::add(std::unique_ptr<Layer> layer, std::vector<std::string> inputs) {
  KAON_CHECK(!built_, "cannot add layer '{}' to a built model", layer->name());
  KAON_CHECK(resolve(layer->name()) == 0, "duplicate layer name '{}'", layer->name());
  Node node;
  if (inputs.empty()) {
    KAON_CHECK(!nodes_.empty() || inputNames_.size() == 1,
               "layer '{}' must name its inputs (the model has {} inputs)", layer->name(), inputNames_.size());
    node.inputs.push_back(nodes_.empty() ? -1 : static_cast<int>(nodes_.size()) - 1);
  }
  for (const auto& in : inputs) {
    int r = resolve(in);
    KAON_CHECK(r != 0, "layer '{}' takes input '{}', which is neither a model input nor an earlier layer",
               layer->name(), in);
    node.inputs.push_back(r > 0 ? r - 1 : r);
  }
  node.layer = std::move(layer);
  nodes_.push_back(std::move(node));
  return *nodes_.back().layer;
}

void Model::setOutputs(std::vector<std::string> names) {
  KAON_CHECK(!built_, "cannot change the outputs of a built model");
  outputNames_ = std::move(names);
}

void Model::checkBuilt(const char* what) const { KAON_CHECK(built_, "{}: the model is not built yet", what); }

void Model::build(DType dtype, std::uint64_t seed, Device device) {
  KAON_CHECK(!built_, "model already built");
  KAON_CHECK(!nodes_.empty(), "model has no layers");
  if (outputNames_.empty()) outputNames_ = {nodes_.back().layer->name()};
  for (const auto& name : outputNames_) {
    int r = resolve(name);
    KAON_CHECK(r > 0, "model output '{}' is not a layer", name);
    outputs_.push_back(r - 1);
  }
  // Shape inference, in order.
  std::int64_t paramCount = 0, bufferCount = 0;
  for (auto& node : nodes_) {
    std::vector<Shape> shapes;
    for (int in : node.inputs) shapes.push_back(in >= 0 ? nodes_[in].outputShape : inputShapes_[-in - 1]);
    Layer& l = *node.layer;
    KAON_CHECK(static_cast<int>(shapes.size()) >= l.minInputs() && static_cast<int>(shapes.size()) <= l.maxInputs(),
               "layer '{}' ({}) takes {} to {} inputs, got {}", l.name(), l.type(), l.minInputs(), l.maxInputs(),
               shapes.size());
    try {
      node.outputShape = l.build(shapes);
    } catch (const Error& e) {
      throw Error(fmt::format("layer '{}' ({}): {}", l.name(), l.type(), e.what()));
    }
    for (auto& p : l.parameters()) p.offset = paramCount, paramCount += p.shape.numel();
    for (auto& b : l.buffers()) b.offset = bufferCount, bufferCount += b.shape.numel();
  }
  // One flat buffer each; layers see views.
  params_ = Tensor::zeros(Shape{paramCount}, dtype);
  grads_ = Tensor::zeros(Shape{paramCount}, dtype);
  buffers_ = Tensor::zeros(Shape{bufferCount}, dtype);
  std::mt19937_64 rng(seed);
  for (auto& node : nodes_) {
    for (auto& p : node.layer->parameters()) {
      p.value = params_.slice(p.offset, p.offset + p.shape.numel()).reshape(p.shape);
      p.grad = grads_.slice(p.offset, p.offset + p.shape.numel()).reshape(p.shape);
      initialise(p.value, p.init, rng);
    }
    for (auto& b : node.layer->buffers()) {
      b.value = buffers_.slice(b.offset, b.offset + b.shape.numel()).reshape(b.shape);
      initialise(b.value, b.init, rng);
    }
  }
  if (!device.isCpu()) {
    // Move the initialised buffers and re-bind the layers' views to the device copies.
    params_ = params_.to(device);
    grads_ = Tensor::zeros(Shape{paramCount}, dtype, device);
    buffers_ = buffers_.to(device);
    for (auto& node : nodes_) {
      for (auto& p : node.layer->parameters()) {
        p.value = params_.slice(p.offset, p.offset + p.shape.numel()).reshape(p.shape);
        p.grad = grads_.slice(p.offset, p.offset + p.shape.numel()).reshape(p.shape);
      }
      for (auto& b : node.layer->buffers())
        b.value = buffers_.slice(b.offset, b.offset + b.shape.numel()).reshape(b.shape);
    }
  }
  seed_ = seed;
  built_ = true;
}

void Model::setPrecision(Precision precision) {
  checkBuilt("setPrecision");
  if (precision == precision_) return;
  KAON_CHECK(device().isCuda() || precision == Precision::Fp32,
             "precision {} needs a GPU model (device: cuda); a CPU model trains in fp32 only", precisionName(precision));
  KAON_CHECK(params_.dtype() == DType::Float32, "precision {} needs a model built in float32, this one is {}",
             precisionName(precision), dtypeName(params_.dtype()));
  const bool mixed = isMixedPrecision(precision);
  if (mixed) {
    // Buffers (running statistics) stay fp32: only layers that compute in fp32 may have them.
    for (const auto& node : nodes_)
      if (!node.layer->buffers().empty() && !node.layer->computesInFloat32())
        throw NotImplemented(fmt::format("precision {} for layer '{}' ({}): its buffers would need fp32 beside "
                                         "low-precision activations", precisionName(precision),
                                         node.layer->name(), node.layer->type()));
  }
  precision_ = precision;
  computeParams_ = mixed ? Tensor::empty(params_.shape(), computeDType(), device()) : Tensor();
  computeGrads_ = mixed ? Tensor::zeros(params_.shape(), computeDType(), device()) : Tensor();
  for (auto& node : nodes_)
    for (auto& p : node.layer->parameters()) {
      // fp32 layers (batch norm) work on the masters themselves, low-precision ones on the copies.
      const bool low = mixed && !node.layer->computesInFloat32();
      const Tensor& values = low ? computeParams_ : params_;
      const Tensor& grads = low ? computeGrads_ : grads_;
      p.value = values.slice(p.offset, p.offset + p.shape.numel()).reshape(p.shape);
      p.grad = grads.slice(p.offset, p.offset + p.shape.numel()).reshape(p.shape);
    }
}

std::vector<Tensor> Model::forwardMulti(const std::vector<Tensor>& inputs, bool training) {
  checkBuilt("forward");
  KAON_CHECK(inputs.size() == inputNames_.size(), "model takes {} inputs, got {}", inputNames_.size(), inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    KAON_CHECK(inputs[i].defined() && inputs[i].rank() == inputShapes_[i].rank() + 1 &&
                   inputs[i].shape().dropFirst() == inputShapes_[i],
               "model input '{}' has shape {}, expected [N] + {}", inputNames_[i],
               inputs[i].defined() ? inputs[i].shape().str() : "undefined", inputShapes_[i].str());
    KAON_CHECK(inputs[i].dtype() == params_.dtype(), "model input '{}' is {}, the model is {}", inputNames_[i],
               dtypeName(inputs[i].dtype()), dtypeName(params_.dtype()));
  }
  Tf32Scope tf32(precision_);
  const bool mixed = computeParams_.defined();
  if (mixed) {
    // The compute weights follow the master weights whatever changed them (optimizer, checkpoint
    // load, broadcast, EASGD): one conversion per forward, a few microseconds.
    ops::convertInto(params_, computeParams_);
    lastInputs_.clear();
    for (const Tensor& in : inputs) lastInputs_.push_back(ops::toDType(in, computeDType()));
  } else {
    lastInputs_ = inputs;
  }
  activations_.assign(nodes_.size(), Tensor());
  ForwardContext ctx{training, seed_, step_, 0, replicas_};
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    std::vector<Tensor> in;
    for (int src : nodes_[i].inputs) in.push_back(src >= 0 ? activations_[src] : lastInputs_[-src - 1]);
    ctx.layerIndex = static_cast<int>(i);
    if (mixed && nodes_[i].layer->computesInFloat32()) {
      for (Tensor& t : in) t = ops::toDType(t, DType::Float32);
      activations_[i] = ops::toDType(nodes_[i].layer->forward(in, ctx), computeDType());
    } else {
      activations_[i] = nodes_[i].layer->forward(in, ctx);
    }
  }
  if (training) ++step_;
  std::vector<Tensor> out;
  for (int o : outputs_) out.push_back(mixed ? ops::toDType(activations_[o], DType::Float32) : activations_[o]);
  return out;
}

Tensor Model::forward(const Tensor& input, bool training) {
  checkBuilt("forward");
  KAON_CHECK(inputNames_.size() == 1 && outputs_.size() == 1,
             "model has {} inputs and {} outputs; use forwardMulti", inputNames_.size(), outputs_.size());
  return forwardMulti({input}, training).at(0);
}

std::vector<Tensor> Model::backwardMulti(const std::vector<Tensor>& outputGrads, const BackwardOptions& options) {
  checkBuilt("backward");
  KAON_CHECK(!activations_.empty(), "backward called before forward");
  KAON_CHECK(outputGrads.size() == outputs_.size(), "model has {} outputs, got {} gradients", outputs_.size(),
             outputGrads.size());
  // Gradient w.r.t. each node's output, summed over consumers (and the loss for outputs).
  std::vector<Tensor> grads(nodes_.size());
  std::vector<Tensor> inputGrads(inputNames_.size());
  // A fresh tensor on the second contribution: never add into a tensor a caller or layer owns.
  auto accumulate = [](Tensor& slot, const Tensor& g) { slot = slot.defined() ? ops::add(slot, g) : g; };
  Tf32Scope tf32(precision_);
  const bool mixed = computeGrads_.defined();
  for (std::size_t k = 0; k < outputs_.size(); ++k) {
    if (!outputGrads[k].defined()) continue;
    KAON_CHECK(outputGrads[k].shape() == activations_[outputs_[k]].shape(),
               "gradient for output '{}' has shape {}, the output has {}", outputNames_[k],
               outputGrads[k].shape().str(), activations_[outputs_[k]].shape().str());
    accumulate(grads[outputs_[k]], mixed ? ops::toDType(outputGrads[k], computeDType(), gradScale_) : outputGrads[k]);
  }
  // Which nodes lead to something that needs a gradient: parameters, or model inputs if wanted.
  std::vector<bool> needs(nodes_.size(), false);
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const Layer& l = *nodes_[i].layer;
    bool own = options.accumulateParamGrads && !l.frozen() && !l.parameters().empty();
    bool fromInputs = false;
    for (int src : nodes_[i].inputs) fromInputs |= src >= 0 ? needs[src] : options.wantInputGrads;
    needs[i] = own || fromInputs;
  }
  for (int i = static_cast<int>(nodes_.size()) - 1; i >= 0; --i) {
    if (!grads[i].defined() || !needs[i]) continue;
    Node& node = nodes_[i];
    BackwardContext ctx;
    ctx.accumulateParamGrads = options.accumulateParamGrads;
    ctx.replicas = replicas_;
    for (int src : node.inputs) ctx.needInputGrad.push_back(src >= 0 ? needs[src] : options.wantInputGrads);
    // An fp32 layer in a mixed model takes the unscaled fp32 gradient and accumulates straight
    // into the fp32 master gradients; its input gradients go back scaled, in the compute dtype.
    const bool fp32Layer = mixed && node.layer->computesInFloat32();
    std::vector<Tensor> dx =
        node.layer->backward(fp32Layer ? ops::toDType(grads[i], DType::Float32, 1.0 / gradScale_) : grads[i], ctx);
    if (fp32Layer)
      for (Tensor& d : dx)
        if (d.defined()) d = ops::toDType(d, computeDType(), gradScale_);
    grads[i] = Tensor();
    if (node.layer->updatesParams(ctx))
      for (const auto& p : node.layer->parameters()) {
        const std::int64_t n = p.shape.numel();
        // Mixed precision: the fp32 gradient (what allreduce and the optimizer read) is the
        // low-precision one, unscaled. It holds everything accumulated since zeroGrad().
        if (mixed && !fp32Layer) ops::convertInto(p.grad, grads_.slice(p.offset, p.offset + n), 1.0 / gradScale_);
        if (gradientReady_) gradientReady_(GradientReady{node.layer.get(), &p, p.offset, n});
      }
    for (std::size_t k = 0; k < node.inputs.size(); ++k) {
      if (!ctx.needInputGrad[k] || !dx.at(k).defined()) continue;
      int src = node.inputs[k];
      accumulate(src >= 0 ? grads[src] : inputGrads[-src - 1], dx[k]);
    }
  }
  if (mixed)
    for (Tensor& g : inputGrads)
      if (g.defined()) g = ops::toDType(g, DType::Float32, 1.0 / gradScale_);
  return options.wantInputGrads ? inputGrads : std::vector<Tensor>{};
}

Tensor Model::backward(const Tensor& outputGrad, const BackwardOptions& options) {
  auto g = backwardMulti({outputGrad}, options);
  return g.empty() ? Tensor() : g.at(0);
}

void Model::zeroGrad() {
  checkBuilt("zeroGrad");
  grads_.zero();
  if (computeGrads_.defined()) computeGrads_.zero();
}

void Model::releaseSaved() {
  activations_.clear();
  lastInputs_.clear();
  for (auto& n : nodes_) n.layer->releaseSaved();
}

std::int64_t Model::trainableCount() const {
  std::int64_t n = 0;
  for (auto [off, count] : trainableRanges()) n += count;
  return n;
}

std::vector<std::pair<std::int64_t, std::int64_t>> Model::trainableRanges() const {
  std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
  for (const auto& node : nodes_) {
    if (node.layer->frozen()) continue;
    for (const auto& p : node.layer->parameters()) {
      std::int64_t n = p.shape.numel();
      if (!ranges.empty() && ranges.back().first + ranges.back().second == p.offset)
        ranges.back().second += n;
      else if (n > 0)
        ranges.emplace_back(p.offset, n);
    }
  }
  return ranges;
}

std::vector<Model::NamedParameter> Model::namedParameters() const {
  std::vector<NamedParameter> out;
  for (const auto& node : nodes_)
    for (const auto& p : node.layer->parameters())
      out.push_back({node.layer->name() + "." + p.name, &p, node.layer.get()});
  return out;
}

std::vector<std::pair<std::string, const Buffer*>> Model::namedBuffers() const {
  std::vector<std::pair<std::string, const Buffer*>> out;
  for (const auto& node : nodes_)
    for (const auto& b : node.layer->buffers()) out.emplace_back(node.layer->name() + "." + b.name, &b);
  return out;
}

void Model::setFrozen(const std::string& layerName, bool frozen) { layer(layerName).setFrozen(frozen); }

Layer& Model::layer(const std::string& name) {
  int r = resolve(name);
  KAON_CHECK(r > 0, "model has no layer '{}'", name);
  return *nodes_[r - 1].layer;
}

std::vector<Shape> Model::outputShapes() const {
  checkBuilt("outputShapes");
  std::vector<Shape> s;
  for (int o : outputs_) s.push_back(nodes_[o].outputShape);
  return s;
}

std::string Model::summary() const {
  checkBuilt("summary");
  auto shapeStr = [](const Shape& s) {
    std::string out = "(N";
    for (auto d : s.dims()) out += ", " + std::to_string(d);
    return out + ")";
  };
  std::string rule(100, '-');
  std::string s = fmt::format("{:<34}{:<22}{:>12}  {}\n{}\n", "Layer (type)", "Output shape", "Params", "Inputs", rule);
  for (std::size_t i = 0; i < inputNames_.size(); ++i)
    s += fmt::format("{:<34}{:<22}{:>12}\n", inputNames_[i] + " (input)", shapeStr(inputShapes_[i]), 0);
  for (const auto& node : nodes_) {
    std::string inputs;
    for (int src : node.inputs)
      inputs += (inputs.empty() ? "" : ", ") + (src >= 0 ? nodes_[src].layer->name() : inputNames_[-src - 1]);
    std::string label = node.layer->name() + " (" + std::string(node.layer->type()) + ")";
    std::string extra = node.layer->describe();
    s += fmt::format("{:<34}{:<22}{:>12}  {}{}{}\n", label, shapeStr(node.outputShape), node.layer->parameterCount(),
                     inputs, extra.empty() ? "" : "  ", extra + (node.layer->frozen() ? " [frozen]" : ""));
  }
  s += rule + "\n";
  s += fmt::format("Total params: {}\nTrainable params: {}\nNon-trainable params: {}\n", parameterCount(),
                   trainableCount(), parameterCount() - trainableCount());
  return s;
}

}  // namespace kaon::nn
