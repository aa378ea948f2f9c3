#include "kaon/ops/conv_params.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kaon/core/error.hpp"

namespace kaon::ops {
namespace {

// Expands a per-axis setting: empty -> fallback, one value -> broadcast, else must match rank.
std::array<int, 3> perAxis(const std::vector<int>& v, int rank, int fallback, const char* what) {
  std::array<int, 3> out{fallback, fallback, fallback};
  KAON_CHECK(v.empty() || v.size() == 1 || static_cast<int>(v.size()) == rank,
             "{} has {} values for {} spatial axes", what, v.size(), rank);
  for (int i = 0; i < rank; ++i) out[3 - rank + i] = v.empty() ? fallback : v[v.size() == 1 ? 0 : i];
  return out;
}

void checkSpatialRank(const Shape& x, const char* op) {
  KAON_CHECK(x.rank() >= 3 && x.rank() <= 5, "{} expects input [N, C, *spatial] with 1 to 3 spatial axes, got {}",
             op, x.str());
}

void fillCommon(ConvGeometry& g, const Shape& x, const ConvParams& p) {
  g.spatialRank = x.rank() - 2;
  g.batch = x[0];
  g.inChannels = x[1];
  for (int i = 0; i < g.spatialRank; ++i) g.in[3 - g.spatialRank + i] = x[2 + i];
  g.stride = perAxis(p.stride, g.spatialRank, 1, "stride");
  g.dilation = perAxis(p.dilation, g.spatialRank, 1, "dilation");
  g.padBegin = perAxis(p.padBegin, g.spatialRank, 0, "padding");
  g.padEnd = perAxis(p.padEnd.empty() ? p.padBegin : p.padEnd, g.spatialRank, 0, "padding");
  for (int a = 0; a < 3; ++a) {
    KAON_CHECK(g.stride[a] >= 1 && g.dilation[a] >= 1, "stride and dilation must be >= 1");
    KAON_CHECK(g.padBegin[a] >= 0 && g.padEnd[a] >= 0, "padding must be >= 0");
  }
}

void computeOutput(ConvGeometry& g, const char* op) {
  for (int a = 0; a < 3; ++a) {
    std::int64_t span = static_cast<std::int64_t>(g.dilation[a]) * (g.kernel[a] - 1) + 1;
    std::int64_t padded = g.in[a] + g.padBegin[a] + g.padEnd[a];
    KAON_CHECK(padded >= span, "{}: window {} larger than padded input {} ({})", op, span, padded, g.str());
    g.out[a] = (padded - span) / g.stride[a] + 1;
  }
}

}  // namespace

ConvParams samePadding(std::span<const std::int64_t> in, std::span<const std::int64_t> kernel, std::vector<int> stride,
                       std::vector<int> dilation) {
  KAON_CHECK(in.size() == kernel.size(), "samePadding: {} input axes, {} kernel axes", in.size(), kernel.size());
  ConvParams p;
  int rank = static_cast<int>(in.size());
  auto s = perAxis(stride, rank, 1, "stride");
  auto d = perAxis(dilation, rank, 1, "dilation");
  for (int i = 0; i < rank; ++i) {
    int a = 3 - rank + i;
    std::int64_t out = (in[i] + s[a] - 1) / s[a];
    std::int64_t span = static_cast<std::int64_t>(d[a]) * (kernel[i] - 1) + 1;
    std::int64_t total = std::max<std::int64_t>(0, (out - 1) * s[a] + span - in[i]);
    p.padBegin.push_back(static_cast<int>(total / 2));
    p.padEnd.push_back(static_cast<int>(total - total / 2));
  }
  p.stride = std::move(stride);
  p.dilation = std::move(dilation);
  return p;
}

Shape ConvGeometry::inputShape() const {
  std::vector<std::int64_t> d{batch, inChannels};
  for (int i = 3 - spatialRank; i < 3; ++i) d.push_back(in[i]);
  return Shape(d);
}

Shape ConvGeometry::outputShape() const {
  std::vector<std::int64_t> d{batch, outChannels};
  for (int i = 3 - spatialRank; i < 3; ++i) d.push_back(out[i]);
  return Shape(d);
}

std::string ConvGeometry::str() const {
  return fmt::format("in {} kernel {} stride {} pad {}/{} dilation {}", inputShape().str(), fmt::join(kernel, "x"),
                     fmt::join(stride, ","), fmt::join(padBegin, ","), fmt::join(padEnd, ","), fmt::join(dilation, ","));
}

ConvGeometry convGeometry(const Shape& x, const Shape& w, const ConvParams& p) {
  checkSpatialRank(x, "conv");
  KAON_CHECK(w.rank() == x.rank(), "conv weight {} must have the rank of input {}", w.str(), x.str());
  KAON_CHECK(w[1] == x[1], "conv weight {} expects {} input channels, input {} has {}", w.str(), w[1], x.str(), x[1]);
  ConvGeometry g;
  fillCommon(g, x, p);
  g.outChannels = w[0];
  for (int i = 0; i < g.spatialRank; ++i) g.kernel[3 - g.spatialRank + i] = w[2 + i];
  computeOutput(g, "conv");
  return g;
}

ConvGeometry convTransposeGeometry(const Shape& x, const Shape& w, const ConvParams& p,
                                   const std::vector<int>& outputPadding) {
  checkSpatialRank(x, "conv_transpose");
  KAON_CHECK(w.rank() == x.rank(), "conv_transpose weight {} must have the rank of input {}", w.str(), x.str());
  KAON_CHECK(w[0] == x[1], "conv_transpose weight {} expects {} input channels, input {} has {}", w.str(), w[0],
             x.str(), x[1]);
  // Describe the forward conv that maps the transposed conv's output back to x.
  ConvGeometry g;
  fillCommon(g, x, p);
  int r = g.spatialRank;
  auto outPad = perAxis(outputPadding, r, 0, "output_padding");
  g.outChannels = w[1];  // forward conv input channels = transposed output channels
  std::array<std::int64_t, 3> xs = g.in;
  for (int i = 0; i < r; ++i) g.kernel[3 - r + i] = w[2 + i];
  for (int a = 0; a < 3; ++a) {
    KAON_CHECK(outPad[a] >= 0 && outPad[a] < std::max(g.stride[a], g.dilation[a]),
               "output_padding must be smaller than stride or dilation");
    g.in[a] = (xs[a] - 1) * g.stride[a] - g.padBegin[a] - g.padEnd[a] +
              static_cast<std::int64_t>(g.dilation[a]) * (g.kernel[a] - 1) + 1 + outPad[a];
    KAON_CHECK(g.in[a] > 0, "conv_transpose output would be empty ({})", g.str());
    g.out[a] = xs[a];
  }
  std::swap(g.inChannels, g.outChannels);  // forward conv: in = transposed out, out = x channels
  return g;
}

ConvGeometry poolGeometry(const Shape& x, const std::vector<int>& window, const ConvParams& p) {
  checkSpatialRank(x, "pool");
  ConvGeometry g;
  ConvParams q = p;
  if (q.stride.empty()) q.stride = window;
  fillCommon(g, x, q);
  g.outChannels = g.inChannels;
  auto k = perAxis(window, g.spatialRank, 1, "pool window");
  for (int a = 0; a < 3; ++a) {
    g.kernel[a] = k[a];
    KAON_CHECK(k[a] >= 1, "pool window must be >= 1");
    KAON_CHECK(g.padBegin[a] < k[a] && g.padEnd[a] < k[a], "pool padding must be smaller than the window");
  }
  computeOutput(g, "pool");
  return g;
}

}  // namespace kaon::ops
