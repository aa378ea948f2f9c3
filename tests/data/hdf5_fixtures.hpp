#pragma once
// Shared by the HDF5 tests: the fixture directory written once per test binary by
// tests/data/make_h5_fixtures.py (skips the test when h5py is missing), and small helpers.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>
#include <unistd.h>

#include "kaon/data/hdf5_dataset.hpp"

namespace kaon::testing {

// The fixture directory, or empty when h5py is unavailable (callers GTEST_SKIP()).
inline const std::string& h5Fixtures() {
  static const std::string dir = [] {
    std::string d = (std::filesystem::temp_directory_path() / ("kaon_h5_fixtures_" + std::to_string(::getpid()))).string();
    std::string cmd = std::string(KAON_TEST_PYTHON) + " " + KAON_SOURCE_DIR + "/tests/data/make_h5_fixtures.py " + d +
                      " > " + d + ".log 2>&1";
    int rc = std::system(cmd.c_str());
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) return std::string();
    if (rc != 0) {
      std::ifstream log(d + ".log");
      ADD_FAILURE() << "make_h5_fixtures.py failed (" << rc << "):\n" << std::string(std::istreambuf_iterator<char>(log), {});
    }
    return d;
  }();
  return dir;
}

// Removes the fixture directory when the test binary ends.
class H5FixtureCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    std::string d = (std::filesystem::temp_directory_path() / ("kaon_h5_fixtures_" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(d, ec);
    std::filesystem::remove(d + ".log", ec);
  }
};
inline const bool kH5FixtureCleanupRegistered = (::testing::AddGlobalTestEnvironment(new H5FixtureCleanup), true);

#define KAON_REQUIRE_H5PY()                                               \
  do {                                                                    \
    if (::kaon::testing::h5Fixtures().empty()) GTEST_SKIP() << "h5py not available"; \
  } while (0)

inline std::string fx(const std::string& name) { return h5Fixtures() + "/" + name; }

// Reads samples `indices` (default: all, in order) of a dataset into one batch.
inline data::Batch readBatch(const data::Dataset& d, std::vector<std::int64_t> indices = {}) {
  if (indices.empty()) {
    indices.resize(static_cast<std::size_t>(d.size()));
    std::iota(indices.begin(), indices.end(), 0);
  }
  data::Batch b = d.allocateBatch(static_cast<std::int64_t>(indices.size()));
  d.read(indices, b);
  return b;
}

// Simple options: features x from the given files, labels y.
inline data::Hdf5DatasetOptions simpleOptions(std::vector<std::string> files, const std::string& features = "x",
                                              const std::string& labels = "y") {
  data::Hdf5DatasetOptions o;
  o.files = std::move(files);
  o.features.dataset = features;
  o.labels = data::FieldSpec{labels};
  return o;
}

// The message of the kaon::Error that f throws (fails the test when it does not throw).
template <class F>
std::string errorOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a kaon::Error";
  return {};
}

}  // namespace kaon::testing
