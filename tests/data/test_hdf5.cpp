// HDF5 reader: files written by h5py / netCDF4 read back exactly (every dtype, chunked and
// compressed layouts, channels-last, columns, CF packing), multi-file and class-separated
// sources, and a clear error naming file and dataset for every bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "hdf5_fixtures.hpp"
#include "kaon/data/sampler.hpp"

namespace kaon::data {
namespace {

using testing::errorOf;
using testing::fx;
using testing::readBatch;
using testing::simpleOptions;

// All samples of `features` in `file`, read through the reader, as floats.
std::vector<float> readAll(const std::string& file, const std::string& features, std::vector<std::int64_t> order = {}) {
  Hdf5Dataset d(simpleOptions({file}, features, features));
  return readBatch(d, std::move(order)).inputs[0].toVector<float>();
}

bool sameBits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) || std::signbit(a[i]) != std::signbit(b[i]))
      return false;
  return true;
}

TEST(Hdf5Reader, EveryDtypeConvertsLikeNumpy) {
  KAON_REQUIRE_H5PY();
  std::string f = fx("dtypes.h5");
  std::vector<float> ints = readAll(f, "expected_int");
  ASSERT_EQ(ints.size(), 40u * 6);
  for (std::string dt : {"int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"})
    EXPECT_EQ(readAll(f, "x_" + dt), ints) << dt;
  for (std::string dt : {"float16", "float32", "float64"})
    EXPECT_EQ(readAll(f, "x_" + dt), readAll(f, "expected_" + dt)) << dt;
  EXPECT_EQ(readAll(f, "x_be_float64"), readAll(f, "expected_be_float64"));
  EXPECT_TRUE(sameBits(readAll(f, "x_half_special"), readAll(f, "expected_half_special")));
  EXPECT_EQ(readAll(f, "x_bool"), readAll(f, "expected_bool"));  // h5py's boolean enum
  // The float32 reference really is non-trivial (guards against comparing zeros with zeros).
  std::vector<float> ref = readAll(f, "expected_float32");
  EXPECT_NE(ref[7], 0.0f);
  EXPECT_NE(ref[7], std::round(ref[7]));
}

TEST(Hdf5Reader, ChunkedAndCompressedLayoutsReadBackInAnyOrder) {
  KAON_REQUIRE_H5PY();
  std::string f = fx("dtypes.h5");
  // Shuffled order with a duplicate, crossing chunk boundaries.
  std::vector<std::int64_t> order{39, 0, 13, 14, 15, 2, 38, 7, 7, 21, 20};
  std::vector<float> want = readAll(f, "expected_float32", order);
  for (std::string ds : {"x_float32", "chunked", "gzip", "gzip_shuffle"}) EXPECT_EQ(readAll(f, ds, order), want) << ds;
  EXPECT_EQ(readAll(f, "gzip_int16", order), readAll(f, "expected_int", order));
  // A sample's row really moved: position 1 holds sample 0.
  std::vector<float> all = readAll(f, "expected_float32");
  EXPECT_TRUE(std::equal(want.begin() + 6, want.begin() + 12, all.begin()));
}

TEST(Hdf5Reader, ChannelsLastColumnsWeightsAndExtras) {
  KAON_REQUIRE_H5PY();
  Hdf5DatasetOptions o = simpleOptions({fx("channels_last.h5")}, "images", "labels");
  o.features.channelsLast = true;
  Hdf5Dataset cl(o);
  EXPECT_EQ(cl.inputShapes()[0], (Shape{3, 4, 5}));
  std::vector<std::int64_t> order{5, 1, 30};
  EXPECT_EQ(readBatch(cl, order).inputs[0].toVector<float>(), readAll(fx("channels_last.h5"), "expected", order));

  Hdf5DatasetOptions c = simpleOptions({fx("dtypes.h5")}, "x_float32", "labels");
  c.labels = FieldSpec{"target", {1}, true};  // column 1 of target: 100 + i
  c.weights = FieldSpec{"weights"};
  c.extraInputs.push_back(FieldSpec{"energy"});
  c.extraTargets.push_back(FieldSpec{"target", {0, 2}});
  Hdf5Dataset d(c);
  ASSERT_EQ(d.targetShapes().size(), 2u);
  EXPECT_EQ(d.targetShapes()[0], Shape{});
  EXPECT_EQ(d.targetShapes()[1], Shape{2});
  EXPECT_EQ(d.inputShapes()[1], Shape{});
  Batch b = readBatch(d, {3, 0, 39});
  EXPECT_EQ(b.targets[0].toVector<float>(), (std::vector<float>{103, 100, 139}));
  EXPECT_EQ(b.targets[1].toVector<float>(), (std::vector<float>{3, 203, 0, 200, 39, 239}));
  EXPECT_FLOAT_EQ(b.weights.toVector<float>()[1], 0.5f);
  EXPECT_FLOAT_EQ(b.weights.toVector<float>()[2], 1.5f);
  EXPECT_FLOAT_EQ(b.inputs[1].toVector<float>()[2], 500.0f);
  // Presenting samples with another shape of the same size.
  Hdf5DatasetOptions r = simpleOptions({fx("dtypes.h5")}, "x_float32", "labels");
  r.features.shape = {6};
  EXPECT_EQ(Hdf5Dataset(r).inputShapes()[0], Shape{6});
  r.features.shape = {5};
  EXPECT_NE(errorOf([&] { Hdf5Dataset{r}; }).find("cannot be presented"), std::string::npos);
}

TEST(Hdf5Reader, FileListsConcatenateFilesInOrder) {
  KAON_REQUIRE_H5PY();
  std::vector<std::string> files = readFileList(fx("parts.txt"));
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[1], fx("part1.h5"));
  Hdf5Dataset d(simpleOptions(files));
  EXPECT_EQ(d.size(), 40);
  EXPECT_NE(d.describe().find("part0.h5"), std::string::npos);
  std::vector<std::int64_t> order{39, 12, 13, 32, 33, 0};  // crosses every file boundary
  Batch b = readBatch(d, order);
  for (std::size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(b.inputs[0].toVector<float>()[3 * i + 2], static_cast<float>(order[i]));
    EXPECT_EQ(b.targets[0].toVector<float>()[i], static_cast<float>(order[i] % 2));
  }
}

TEST(Hdf5Reader, ClassesFromSeparateFilesOrDatasetsWithWeights) {
  KAON_REQUIRE_H5PY();
  Hdf5DatasetOptions o;
  o.features.dataset = "images";
  o.classes = {{"signal", {fx("signal.h5")}, ""}, {"background", {fx("background.h5")}, ""}};
  o.balanceClasses = true;
  Hdf5Dataset d(o);
  EXPECT_EQ(d.size(), 40);
  EXPECT_EQ(d.classCounts(), (std::vector<std::int64_t>{10, 30}));
  Batch b = readBatch(d);
  for (std::int64_t i = 0; i < 40; ++i) {
    float label = b.targets[0].toVector<float>()[i], pixel = b.inputs[0].toVector<float>()[4 * i];
    EXPECT_EQ(label, i < 10 ? 0.0f : 1.0f);  // class index in list order
    EXPECT_EQ(pixel, i < 10 ? 1.0f : -1.0f);  // and the sample comes from that class's file
    EXPECT_NEAR(b.weights.toVector<float>()[i], i < 10 ? 2.0 : 40.0 / 60.0, 1e-6);
  }
  // Both classes as datasets of one file, explicit class weights.
  Hdf5DatasetOptions one;
  one.features.dataset = "sig";
  one.classes = {{"signal", {fx("both.h5")}, "sig"}, {"background", {fx("both.h5")}, "bkg"}};
  one.classWeights = {3.0, 1.0};
  Hdf5Dataset e(one);
  Batch c = readBatch(e, {35, 2});
  EXPECT_EQ(c.targets[0].toVector<float>(), (std::vector<float>{1, 0}));
  EXPECT_EQ(c.inputs[0].toVector<float>()[0], -1.0f);
  EXPECT_EQ(c.weights.toVector<float>(), (std::vector<float>{1, 3}));
}

TEST(Hdf5Reader, NetCdf4PackedVariablesAreUnpacked) {
  KAON_REQUIRE_H5PY();
  std::vector<float> want = readAll(fx("weather_expected.h5"), "t2m", {0, 4});  // numpy/netCDF4's unpacked values
  Hdf5DatasetOptions o = simpleOptions({fx("weather.nc")}, "t2m", "label");
  o.onNan = NanPolicy::Skip;  // sample 3 holds the _FillValue
  Hdf5Dataset d(o);
  EXPECT_EQ(d.size(), 39);
  EXPECT_EQ(d.skippedSamples(), 1);
  EXPECT_EQ(d.inputShapes()[0], (Shape{6, 8}));
  std::vector<float> got = readBatch(d, {0, 3}).inputs[0].toVector<float>();  // samples 0 and 4
  EXPECT_EQ(got, want);
  EXPECT_GT(got[0], 200.0f);  // unpacked to kelvin
  o.onNan = NanPolicy::Error;
  Hdf5Dataset strict(o);
  std::string e = errorOf([&] { readBatch(strict, {3}); });
  EXPECT_NE(e.find("weather.nc"), std::string::npos) << e;
  EXPECT_NE(e.find("'t2m'"), std::string::npos) << e;
}

// Every bad input: an Error naming the file (and the dataset where there is one).
TEST(Hdf5Reader, BadInputsNameFileAndDataset) {
  KAON_REQUIRE_H5PY();
  auto open = [](Hdf5DatasetOptions o) { return errorOf([&] { Hdf5Dataset{o}; }); };
  auto mentions = [](const std::string& e, std::initializer_list<std::string> words) {
    for (const auto& w : words)
      if (e.find(w) == std::string::npos) return ::testing::AssertionFailure() << "'" << w << "' not in: " << e;
    return ::testing::AssertionSuccess();
  };
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(mentions(open(simpleOptions({fx("missing.h5")})), {"missing.h5", "no such file", "features 'x'"}));
  EXPECT_TRUE(mentions(open(simpleOptions({fx("not_hdf5.h5")})), {"not_hdf5.h5", "not an HDF5 file"}));
  EXPECT_TRUE(mentions(open(simpleOptions({fx("netcdf3.nc")})), {"netcdf3.nc", "netCDF-3"}));
  EXPECT_TRUE(mentions(open(simpleOptions({fx("zero_bytes.h5")})), {"zero_bytes.h5", "empty"}));
  EXPECT_TRUE(mentions(open(simpleOptions({fx("truncated.h5")}, "x_int8", "labels")), {"truncated.h5", "truncated file"}));
  EXPECT_TRUE(mentions(open(simpleOptions({fx("dtypes.h5")}, "nope", "labels")), {"dtypes.h5", "'nope'"}));
  EXPECT_TRUE(mentions(open(simpleOptions({fx("lzf.h5")})), {"lzf.h5", "'x'", "lzf", "HDF5_PLUGIN_PATH"}));
  EXPECT_TRUE(mentions(open(simpleOptions({fx("mismatch.h5")})), {"mismatch.h5", "'y'", "39", "'x'", "40"}));
  EXPECT_TRUE(mentions(open(simpleOptions({fx("empty.h5")})), {"empty.h5", "'x'", "empty"}));
  EXPECT_TRUE(mentions(open(simpleOptions({fx("dtypes.h5")}, "strings", "labels")), {"dtypes.h5", "'strings'", "string"}));
  EXPECT_TRUE(mentions(open(simpleOptions({fx("dtypes.h5")}, "scalar", "labels")), {"dtypes.h5", "'scalar'", "scalar"}));
  EXPECT_TRUE(mentions(open(simpleOptions({fx("small.h5"), fx("other_shape.h5")})),
                       {"other_shape.h5", "'x'", "[4]", "small.h5", "[3]"}));
  Hdf5DatasetOptions badColumn = simpleOptions({fx("dtypes.h5")}, "x_float32", "labels");
  badColumn.labels = FieldSpec{"target", {3}, true};
  EXPECT_TRUE(mentions(open(badColumn), {"dtypes.h5", "'target'", "column 3"}));
  // NaN / Inf: an error naming the row by default, counted and left out with skip.
  Hdf5Dataset strict(simpleOptions({fx("nan.h5")}));
  EXPECT_TRUE(mentions(errorOf([&] { readBatch(strict, {1, 5}); }), {"nan.h5", "'x'", "row 5", "on_nan"}));
  EXPECT_TRUE(mentions(errorOf([&] { readBatch(strict, {17}); }), {"row 17"}));
  EXPECT_NO_THROW(readBatch(strict, {0, 1, 2, 39}));
  Hdf5DatasetOptions skip = simpleOptions({fx("nan.h5")}, "x16");
  skip.onNan = NanPolicy::Skip;
  Hdf5Dataset skipping(skip);
  EXPECT_EQ(skipping.size(), 38);
  EXPECT_EQ(skipping.skippedSamples(), 2);
  for (float v : readBatch(skipping).inputs[0].toVector<float>()) ASSERT_TRUE(std::isfinite(v));
  // More ranks than samples.
  Hdf5Dataset small(simpleOptions({fx("small.h5")}));
  EXPECT_TRUE(mentions(errorOf([&] { shardedSamplerFor(small, {true, 0, 0, 4}); }), {"small.h5", "4 ranks"}));
  // HDF5's own error stack went into the messages, not onto stderr.
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace kaon::data
