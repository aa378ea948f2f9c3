// Hdf5Dataset: files -> global sample index -> (file, row); batches grouped by file, rows
// sorted and read as runs by io::Hdf5RowReader, then scattered to their batch positions.
#include "kaon/data/hdf5_dataset.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "../io/hdf5_reader.hpp"

namespace kaon::data {
namespace {

enum class Role { Input, Target, Weight, ClassLabel };

struct Field {
  FieldSpec spec;
  Role role;
  std::size_t slot;   // index into Batch::inputs / targets
  Shape shape;        // per sample, as presented
  std::int64_t channels = 1, spatial = 1;  // channels-last transpose: stored [spatial, channels]
  std::string name() const {
    if (role == Role::ClassLabel) return "class labels";
    const char* what = role == Role::Weight ? "weights" : role == Role::Input ? (slot == 0 ? "features" : "extra input")
                                                                              : (slot == 0 ? "labels" : "extra target");
    return std::string(what) + " '" + spec.dataset + "'";
  }
};

struct FileEntry {
  std::string path;
  int classIndex = -1;
  std::string featuresDataset;
  std::int64_t rows = 0;
};

struct OpenFile {
  std::vector<std::unique_ptr<io::Hdf5RowReader>> readers;  // one per field; null for class labels
  std::uint64_t lastUse = 0;
};

// NaN and Inf are the floats whose exponent bits are all ones; an integer OR-reduction the
// compiler vectorises (a float reduction it may not reorder).
bool allFinite(const float* v, std::int64_t n) {
  std::uint32_t bad = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, v + i, sizeof bits);
    bad |= static_cast<std::uint32_t>((bits & 0x7F800000u) == 0x7F800000u);
  }
  return bad == 0;
}

Shape presentedShape(const FieldSpec& spec, std::vector<std::int64_t> stored, const std::string& where) {
  if (spec.scalarColumn) stored.erase(stored.begin());  // [1, rest...] -> [rest...]
  if (spec.channelsLast) {
    KAON_CHECK(!stored.empty(), "{}: channels_last needs samples with at least one axis", where);
    std::rotate(stored.rbegin(), stored.rbegin() + 1, stored.rend());  // [..., C] -> [C, ...]
  }
  KAON_CHECK(stored.size() <= static_cast<std::size_t>(Shape::kMaxRank - 1),
             "{}: samples have {} axes, at most {} are supported", where, stored.size(), Shape::kMaxRank - 1);
  Shape s(stored);
  if (!spec.shape.empty()) {
    Shape want(spec.shape);
    KAON_CHECK(want.numel() == s.numel(), "{}: samples of shape {} cannot be presented as {} (different sizes)", where,
               s.str(), want.str());
    s = want;
  }
  return s;
}

}  // namespace

struct Hdf5Dataset::Impl {
  Hdf5DatasetOptions options;
  std::vector<Field> fields;
  std::vector<FileEntry> files;
  std::vector<std::int64_t> offsets;  // offsets[f] = first global row of file f; back() = total
  std::vector<std::int64_t> valid;    // NanPolicy::Skip: dataset index -> global row
  std::int64_t skipped = 0;
  std::vector<std::int64_t> classCounts;
  std::vector<double> classWeights;
  std::size_t nInputs = 0, nTargets = 0;
  bool weights = false;

  mutable std::mutex mutex;
  mutable std::map<std::size_t, OpenFile> open;
  mutable std::uint64_t tick = 0;

  std::string fieldDataset(const Field& f, const FileEntry& file) const {
    if (f.role == Role::Input && f.slot == 0 && !file.featuresDataset.empty()) return file.featuresDataset;
    return f.spec.dataset;
  }

  OpenFile openFile(std::size_t index) const {
    const FileEntry& entry = files[index];
    auto h5 = std::make_shared<const io::Hdf5File>(entry.path, io::Hdf5File::Mode::Read);
    OpenFile of;
    for (const Field& f : fields) {
      if (f.role == Role::ClassLabel) {
        of.readers.push_back(nullptr);
        continue;
      }
      of.readers.push_back(std::make_unique<io::Hdf5RowReader>(h5, fieldDataset(f, entry), f.spec.columns,
                                                               options.chunkCacheBytes));
    }
    return of;
  }

  // The open readers of file `index` (LRU beyond maxOpenFiles). Caller holds `mutex`.
  const OpenFile& readersFor(std::size_t index) const {
    auto it = open.find(index);
    if (it == open.end()) {
      if (static_cast<int>(open.size()) >= std::max(options.maxOpenFiles, 1)) {
        auto oldest = std::min_element(open.begin(), open.end(),
                                       [](const auto& a, const auto& b) { return a.second.lastUse < b.second.lastUse; });
        open.erase(oldest);
      }
      it = open.emplace(index, openFile(index)).first;
    }
    it->second.lastUse = ++tick;
    return it->second;
  }

  void addFields() {
    fields.push_back({options.features, Role::Input, nInputs++, {}});
    for (const auto& s : options.extraInputs) fields.push_back({s, Role::Input, nInputs++, {}});
    if (!options.classes.empty()) fields.push_back({{}, Role::ClassLabel, nTargets++, Shape{}});
    else fields.push_back({*options.labels, Role::Target, nTargets++, {}});
    for (const auto& s : options.extraTargets) fields.push_back({s, Role::Target, nTargets++, {}});
    if (options.weights) fields.push_back({*options.weights, Role::Weight, 0, {}});
    weights = options.weights || !options.classWeights.empty() || options.balanceClasses;
  }

  // Opens each file once: row counts, consistency of lengths and shapes.
  void scanFiles() {
    std::vector<std::string> firstFile(fields.size());
    for (std::size_t fi = 0; fi < files.size(); ++fi) {
      FileEntry& entry = files[fi];
      OpenFile of;
      try {
        of = openFile(fi);
      } catch (const Error& e) {
        std::vector<std::string> names;
        for (const Field& f : fields)
          if (f.role != Role::ClassLabel) names.push_back(f.name());
        throw Error(fmt::format("{} [data: reading {} from file {} of {}]", e.what(), fmt::join(names, ", "), fi + 1,
                                files.size()));
      }
      std::int64_t rows = -1;
      std::string rowsFrom;
      for (std::size_t k = 0; k < fields.size(); ++k) {
        Field& f = fields[k];
        if (!of.readers[k]) continue;
        const io::Hdf5RowReader& r = *of.readers[k];
        std::string where = fmt::format("{}: dataset '{}'", entry.path, r.dataset());
        KAON_CHECK(r.rows() > 0, "{} is empty (no samples)", where);
        if (rows < 0) rows = r.rows(), rowsFrom = r.dataset();
        KAON_CHECK(r.rows() == rows, "{}: dataset '{}' has {} samples but '{}' has {} (fields must have equal lengths)",
                   entry.path, r.dataset(), r.rows(), rowsFrom, rows);
        if (f.spec.scalarColumn) KAON_CHECK(r.rowShape().size() >= 1, "{}: `column` needs [N, columns]", where);
        Shape shape = presentedShape(f.spec, r.rowShape(), where);
        if (f.role == Role::Weight)
          KAON_CHECK(shape.numel() == 1, "{}: weights must hold one value per sample, got samples of shape {}", where,
                     shape.str());
        if (firstFile[k].empty()) {
          f.shape = shape;
          firstFile[k] = entry.path;
          std::vector<std::int64_t> stored = r.rowShape();
          if (f.spec.channelsLast) {
            f.channels = stored.back();
            f.spatial = r.valuesPerRow() / std::max<std::int64_t>(f.channels, 1);
          }
        } else {
          KAON_CHECK(shape == f.shape, "{} has samples of shape {}, but the same field in {} has {}", where, shape.str(),
                     firstFile[k], f.shape.str());
        }
      }
      entry.rows = rows;
      offsets.push_back(offsets.back() + rows);
      if (entry.classIndex >= 0) classCounts[static_cast<std::size_t>(entry.classIndex)] += rows;
    }
  }

  // NanPolicy::Skip: one pass over every floating field, marking samples to leave out.
  void scanNonFinite() {
    std::vector<char> bad(static_cast<std::size_t>(offsets.back()), 0);
    std::string first;
    std::vector<float> buffer;
    for (std::size_t fi = 0; fi < files.size(); ++fi) {
      OpenFile of = openFile(fi);
      for (std::size_t k = 0; k < fields.size(); ++k) {
        const io::Hdf5RowReader* r = of.readers[k].get();
        if (!r || !r->mayHoldNonFinite()) continue;
        const std::int64_t block = std::max<std::int64_t>(1, (64 << 20) / (4 * r->valuesPerRow()));
        for (std::int64_t b = 0; b < r->rows(); b += block) {
          std::int64_t e = std::min(r->rows(), b + block);
          buffer.resize(static_cast<std::size_t>((e - b) * r->valuesPerRow()));
          r->readRange(b, e, buffer.data());
          for (std::int64_t row = b; row < e; ++row) {
            const float* v = buffer.data() + (row - b) * r->valuesPerRow();
            if (std::all_of(v, v + r->valuesPerRow(), [](float x) { return std::isfinite(x); })) continue;
            if (first.empty()) first = fmt::format("{} row {} of '{}'", files[fi].path, row, r->dataset());
            bad[static_cast<std::size_t>(offsets[fi] + row)] = 1;
          }
        }
      }
    }
    for (std::int64_t g = 0; g < offsets.back(); ++g) {
      if (!bad[static_cast<std::size_t>(g)]) {
        valid.push_back(g);
        continue;
      }
      ++skipped;
      std::size_t fi = fileOf(g);
      if (files[fi].classIndex >= 0) --classCounts[static_cast<std::size_t>(files[fi].classIndex)];
    }
    if (skipped > 0)
      spdlog::warn("data: skipped {} of {} samples holding NaN/Inf (on_nan: skip); first: {}", skipped, offsets.back(),
                   first);
    KAON_CHECK(!valid.empty(), "data: every one of the {} samples holds NaN/Inf (first: {})", offsets.back(), first);
  }

  std::size_t fileOf(std::int64_t globalRow) const {
    return static_cast<std::size_t>(std::upper_bound(offsets.begin(), offsets.end(), globalRow) - offsets.begin() - 1);
  }
  std::int64_t size() const { return options.onNan == NanPolicy::Skip ? static_cast<std::int64_t>(valid.size()) : offsets.back(); }

  void read(std::span<const std::int64_t> indices, Batch& out) const;
};

Hdf5Dataset::Hdf5Dataset(Hdf5DatasetOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = std::move(options);
  const auto& o = m.options;
  KAON_CHECK(!o.features.dataset.empty(), "data: the features dataset is not named");
  KAON_CHECK(o.classes.empty() != o.files.empty(), "data: give either files or classes (got {} files, {} classes)",
             o.files.size(), o.classes.size());
  KAON_CHECK(o.classes.empty() == o.labels.has_value(),
             "data: labels come from a dataset (labels) or from class-separated sources (classes), not both or neither");
  KAON_CHECK(o.classWeights.empty() || o.classWeights.size() == o.classes.size(),
             "data: {} class weights for {} classes", o.classWeights.size(), o.classes.size());
  KAON_CHECK(!o.balanceClasses || !o.classes.empty(), "data: balanced class weights need class-separated sources");
  m.addFields();
  for (const auto& f : o.files) m.files.push_back({f, -1, "", 0});
  for (std::size_t c = 0; c < o.classes.size(); ++c) {
    KAON_CHECK(!o.classes[c].files.empty(), "data: class '{}' names no files", o.classes[c].name);
    for (const auto& f : o.classes[c].files) m.files.push_back({f, static_cast<int>(c), o.classes[c].featuresDataset, 0});
  }
  m.classCounts.assign(o.classes.size(), 0);
  m.offsets = {0};
  m.scanFiles();
  if (o.onNan == NanPolicy::Skip) m.scanNonFinite();
  for (std::size_t c = 0; c < o.classes.size(); ++c)
    KAON_CHECK(m.classCounts[c] > 0, "data: class '{}' has no samples", o.classes[c].name);
  if (o.balanceClasses) {
    auto k = static_cast<double>(o.classes.size());
    for (auto n : m.classCounts) m.classWeights.push_back(static_cast<double>(size()) / (k * static_cast<double>(n)));
  } else {
    m.classWeights = o.classWeights;
  }
}

Hdf5Dataset::~Hdf5Dataset() = default;

std::string Hdf5Dataset::describe() const {
  const auto& o = impl_->options;
  std::string prefix = o.label.empty() ? "" : o.label + " ";
  auto fileText = [](const std::vector<std::string>& files) {
    return files.size() == 1 ? files[0] : fmt::format("{} (+{} more files)", files[0], files.size() - 1);
  };
  std::string sources;
  if (o.classes.empty()) {
    sources = fileText(o.files);
  } else {
    std::vector<std::string> parts;
    for (const auto& c : o.classes) parts.push_back(c.name + ": " + fileText(c.files));
    sources = fmt::format("{}", fmt::join(parts, ", "));
  }
  std::string fields = "features '" + o.features.dataset + "'";
  if (o.labels) fields += ", labels '" + o.labels->dataset + "'";
  return fmt::format("{}HDF5 {} [{}]", prefix, sources, fields);
}

std::int64_t Hdf5Dataset::size() const { return impl_->size(); }
bool Hdf5Dataset::hasWeights() const { return impl_->weights; }
std::int64_t Hdf5Dataset::skippedSamples() const { return impl_->skipped; }
std::vector<std::int64_t> Hdf5Dataset::classCounts() const { return impl_->classCounts; }
std::vector<double> Hdf5Dataset::effectiveClassWeights() const { return impl_->classWeights; }

std::vector<Shape> Hdf5Dataset::inputShapes() const {
  std::vector<Shape> s(impl_->nInputs);
  for (const Field& f : impl_->fields)
    if (f.role == Role::Input) s[f.slot] = f.shape;
  return s;
}

std::vector<Shape> Hdf5Dataset::targetShapes() const {
  std::vector<Shape> s(impl_->nTargets);
  for (const Field& f : impl_->fields)
    if (f.role == Role::Target || f.role == Role::ClassLabel) s[f.slot] = f.shape;
  return s;
}

void Hdf5Dataset::read(std::span<const std::int64_t> indices, Batch& out) const { impl_->read(indices, out); }

void Hdf5Dataset::Impl::read(std::span<const std::int64_t> indices, Batch& out) const {
  const auto n = static_cast<std::int64_t>(indices.size());
  KAON_CHECK(out.inputs.size() == nInputs && out.targets.size() == nTargets && out.weights.defined() == weights,
             "HDF5 dataset: the batch does not match the dataset's fields (allocate it with allocateBatch)");
  auto dest = [&](const Field& f) -> const Tensor& {
    return f.role == Role::Input ? out.inputs[f.slot] : f.role == Role::Weight ? out.weights : out.targets[f.slot];
  };
  for (const Field& f : fields)
    KAON_CHECK(dest(f).dim(0) == n && dest(f).numel() == n * f.shape.numel(),
               "HDF5 dataset: batch tensor {} does not fit {} samples of field {}", dest(f).shape().str(), n, f.name());
  // (file, row, batch position), sorted so each file's rows are read as increasing runs.
  struct Item {
    std::size_t file;
    std::int64_t row, pos;
  };
  std::vector<Item> items(indices.size());
  for (std::int64_t p = 0; p < n; ++p) {
    std::int64_t i = indices[static_cast<std::size_t>(p)];
    KAON_CHECK(i >= 0 && i < size(), "HDF5 dataset: sample index {} out of range [0, {})", i, size());
    std::int64_t g = options.onNan == NanPolicy::Skip ? valid[static_cast<std::size_t>(i)] : i;
    std::size_t fi = fileOf(g);
    items[static_cast<std::size_t>(p)] = {fi, g - offsets[fi], p};
  }
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.file != b.file ? a.file < b.file : a.row < b.row; });
  if (weights) out.weights.fill(1.0);

  std::lock_guard<std::mutex> lock(mutex);
  std::vector<std::int64_t> rows;
  std::vector<float> staging;
  for (std::size_t begin = 0; begin < items.size();) {
    std::size_t end = begin;
    while (end < items.size() && items[end].file == items[begin].file) ++end;
    const FileEntry& file = files[items[begin].file];
    rows.clear();
    for (std::size_t k = begin; k < end; ++k)
      if (rows.empty() || rows.back() != items[k].row) rows.push_back(items[k].row);  // duplicates read once
    const OpenFile& of = readersFor(items[begin].file);
    // Sequential case: unique rows whose batch positions follow each other need no staging.
    bool direct = rows.size() == end - begin;
    for (std::size_t j = begin + 1; direct && j < end; ++j) direct = items[j].pos == items[j - 1].pos + 1;
    for (std::size_t k = 0; k < fields.size(); ++k) {
      const Field& f = fields[k];
      float* d = dest(f).data<float>();
      if (f.role == Role::ClassLabel) {
        for (std::size_t j = begin; j < end; ++j) d[items[j].pos] = static_cast<float>(file.classIndex);
        continue;
      }
      const io::Hdf5RowReader& r = *of.readers[k];
      const std::int64_t vpr = r.valuesPerRow();
      auto checkFinite = [&](const float* v, std::int64_t row) {
        if (r.mayHoldNonFinite() && !allFinite(v, vpr))
          KAON_FAIL("{}: dataset '{}': sample at row {} holds NaN or Inf (set data.on_nan: skip to leave such samples "
                    "out)",
                    file.path, r.dataset(), row);
      };
      if (direct && !f.spec.channelsLast) {  // rows already in batch order: read in place
        float* dst = d + items[begin].pos * vpr;
        r.read(rows, dst);
        for (std::size_t j = begin; j < end; ++j) checkFinite(dst + (j - begin) * vpr, items[j].row);
        continue;
      }
      staging.resize(static_cast<std::size_t>(vpr) * rows.size());
      r.read(rows, staging.data());
      std::size_t u = 0;
      for (std::size_t j = begin; j < end; ++j) {
        if (j > begin && items[j].row != items[j - 1].row) ++u;
        const float* src = staging.data() + u * vpr;
        checkFinite(src, items[j].row);
        float* dst = d + items[j].pos * vpr;
        if (f.spec.channelsLast) {
          for (std::int64_t s = 0; s < f.spatial; ++s)
            for (std::int64_t c = 0; c < f.channels; ++c) dst[c * f.spatial + s] = src[s * f.channels + c];
        } else {
          std::memcpy(dst, src, sizeof(float) * static_cast<std::size_t>(vpr));
        }
      }
    }
    if (!classWeights.empty())
      for (std::size_t j = begin; j < end; ++j)
        out.weights.data<float>()[items[j].pos] *= static_cast<float>(classWeights[static_cast<std::size_t>(file.classIndex)]);
    begin = end;
  }
}

std::vector<std::string> readFileList(const std::string& listPath) {
  std::ifstream in(listPath);
  KAON_CHECK(in, "{}: cannot read the file list", listPath);
  std::filesystem::path base = std::filesystem::path(listPath).parent_path();
  std::vector<std::string> files;
  for (std::string line; std::getline(in, line);) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    auto b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
    if (b == std::string::npos) continue;
    std::filesystem::path p = line.substr(b, e - b + 1);
    files.push_back((p.is_absolute() ? p : base / p).lexically_normal().string());
  }
  KAON_CHECK(!files.empty(), "{}: the file list names no files", listPath);
  return files;
}

}  // namespace kaon::data
