// data: source: hdf5 -> Hdf5DatasetOptions (train, optional validation). Keys: docs/config.md.
#include <filesystem>

#include "config_parts.hpp"
#include "kaon/data/storage.hpp"

namespace kaon::data::detail {
namespace {

// `files: a.h5` | `files: [a.h5, b.h5]` | `file_list: list.txt`; one of them (or neither when optional).
std::vector<std::string> readFiles(config::ConfigNode& node, const std::string& filesKey, const std::string& listKey,
                                   bool required) {
  bool hasFiles = node.has(filesKey), hasList = node.has(listKey);
  if (hasFiles && hasList) node.failKey(listKey, "give either " + filesKey + " or " + listKey + ", not both");
  if (hasList) return readFileList(node.get<std::string>(listKey));
  node.markUsed(listKey);
  if (hasFiles) {
    auto files = node.get<std::vector<std::string>>(filesKey);
    if (files.empty()) node.failKey(filesKey, "names no files");
    return files;
  }
  node.markUsed(filesKey);
  if (required) node.fail("missing the data files: set " + filesKey + " (a file or a list) or " + listKey);
  return {};
}

// A field mapping: {dataset, column | columns, layout, shape} (extras add `role`, read by the caller).
FieldSpec readFieldMap(config::ConfigNode& node, bool defaultChannelsLast) {
  FieldSpec f;
  f.dataset = node.get<std::string>("dataset");
  if (node.has("column") && node.has("columns")) node.failKey("columns", "give either column or columns");
  if (auto c = node.find<long long>("column")) {
    if (*c < 0) node.failKey("column", "must be >= 0");
    f.columns = {*c};
    f.scalarColumn = true;
  }
  if (auto cs = node.find<std::vector<int>>("columns")) {
    for (std::size_t i = 0; i < cs->size(); ++i) {
      if ((*cs)[i] < 0 || (i > 0 && (*cs)[i] <= (*cs)[i - 1])) node.failKey("columns", "must be increasing and >= 0");
      f.columns.push_back((*cs)[i]);
    }
  }
  f.channelsLast = node.getChoice("layout", {"channels_first", "channels_last"},
                                  defaultChannelsLast ? "channels_last" : "channels_first") == "channels_last";
  if (auto s = node.find<std::vector<int>>("shape")) {
    for (int d : *s) {
      if (d < 1) node.failKey("shape", "dimensions must be >= 1");
      f.shape.push_back(d);
    }
  }
  node.finish();
  return f;
}

// A field: `key: name` or `key: {dataset: name, ...}`.
FieldSpec readField(config::ConfigNode& parent, const std::string& key, bool defaultChannelsLast) {
  if (!parent.has(key)) parent.failKey(key, "missing required key");
  if (parent.yaml()[key].IsScalar()) {
    FieldSpec f;
    f.dataset = parent.get<std::string>(key);
    f.channelsLast = defaultChannelsLast;
    return f;
  }
  config::ConfigNode node = parent.child(key);
  return readFieldMap(node, defaultChannelsLast);
}

}  // namespace

Hdf5Sources hdf5SourcesFromConfig(config::ConfigNode& node) {
  Hdf5Sources out;
  Hdf5DatasetOptions& o = out.train;
  bool channelsLast = node.getChoice("layout", {"channels_first", "channels_last"}, "channels_first") == "channels_last";
  // With classes, each class may name its own features dataset; the top-level one is then optional.
  bool perClassFeatures = node.has("classes") && node.yaml()["classes"].IsSequence();
  if (perClassFeatures)
    for (const auto& c : node.yaml()["classes"]) perClassFeatures = perClassFeatures && c.IsMap() && c["features"];
  if (node.has("features") || !perClassFeatures) {
    o.features = readField(node, "features", channelsLast);
  } else {
    o.features.dataset = node.yaml()["classes"][0]["features"].as<std::string>();
    o.features.channelsLast = channelsLast;
  }

  std::vector<std::string> validationFiles;
  std::vector<std::vector<std::string>> classValidation;
  if (node.has("classes")) {
    if (node.has("labels")) node.failKey("labels", "labels come from the classes; remove one of labels or classes");
    if (node.has("files") || node.has("file_list"))
      node.failKey("classes", "with classes, name the files inside each class entry");
    if (node.has("validation_files") || node.has("validation_file_list"))
      node.failKey("validation_files", "with classes, give validation_files inside each class entry");
    node.markUsed("files"), node.markUsed("file_list"), node.markUsed("labels");
    node.markUsed("validation_files"), node.markUsed("validation_file_list");
    std::vector<config::ConfigNode> classes = node.sequence("classes");
    if (classes.size() < 2) node.failKey("classes", "must be a list of at least two classes");
    for (config::ConfigNode& c : classes) {
      ClassSource cs;
      cs.name = c.get<std::string>("name");
      cs.files = readFiles(c, "files", "file_list", true);
      cs.featuresDataset = c.getOr<std::string>("features", "");
      classValidation.push_back(readFiles(c, "validation_files", "validation_file_list", false));
      c.finish();
      o.classes.push_back(std::move(cs));
    }
  } else {
    o.files = readFiles(node, "files", "file_list", true);
    if (!node.has("labels")) node.failKey("labels", "missing required key (or give classes: to label by source)");
    o.labels = readField(node, "labels", false);
    validationFiles = readFiles(node, "validation_files", "validation_file_list", false);
  }
  if (node.has("weights")) o.weights = readField(node, "weights", false);
  node.markUsed("weights");
  if (node.has("extras")) {
    for (config::ConfigNode& entry : node.sequence("extras")) {
      std::string role = entry.getChoice("role", {"input", "target"}, "input");
      (role == "input" ? o.extraInputs : o.extraTargets).push_back(readFieldMap(entry, false));
    }
  }
  node.markUsed("extras");
  if (node.has("class_weights")) {
    if (o.classes.empty()) node.failKey("class_weights", "needs class-separated sources (classes:)");
    if (node.yaml()["class_weights"].IsScalar() && node.yaml()["class_weights"].Scalar() == "balanced") {
      o.balanceClasses = true;
      node.markUsed("class_weights");
    } else {
      o.classWeights = node.get<std::vector<double>>("class_weights");
      if (o.classWeights.size() != o.classes.size())
        node.failKey("class_weights", "needs one weight per class (or 'balanced')");
      for (double w : o.classWeights)
        if (!(w > 0)) node.failKey("class_weights", "weights must be > 0");
    }
  }
  node.markUsed("class_weights");
  o.onNan = node.getChoice("on_nan", {"error", "skip"}, "error") == "skip" ? NanPolicy::Skip : NanPolicy::Error;
  double cacheMb = node.getOr<double>("chunk_cache_mb", 16);
  if (cacheMb < 0) node.failKey("chunk_cache_mb", "must be >= 0");
  o.chunkCacheBytes = static_cast<std::size_t>(cacheMb * (1 << 20));
  o.maxOpenFiles = node.getOr<int>("max_open_files", 64);
  if (o.maxOpenFiles < 1) node.failKey("max_open_files", "must be >= 1");
  std::string stageTo = node.getOr<std::string>("stage_to", "");

  bool anyClassValidation = false;
  for (const auto& v : classValidation) anyClassValidation |= !v.empty();
  if (!validationFiles.empty() || anyClassValidation) {
    Hdf5DatasetOptions v = o;
    v.label = "validation";
    v.files = validationFiles;
    for (std::size_t c = 0; c < v.classes.size(); ++c) {
      if (classValidation[c].empty())
        node.failKey("classes", "class '" + v.classes[c].name + "' has no validation_files while another class has");
      v.classes[c].files = classValidation[c];
    }
    out.validation = std::move(v);
  }
  out.stageTo = stageTo;
  return out;
}

void stageSources(Hdf5Sources& sources) {
  auto stage = [&](Hdf5DatasetOptions& opts) {
    if (!opts.files.empty()) opts.files = stageFiles(opts.files, sources.stageTo);
    for (auto& c : opts.classes) c.files = stageFiles(c.files, sources.stageTo);
  };
  stage(sources.train);
  if (sources.validation) stage(*sources.validation);
}

}  // namespace kaon::data::detail
