#pragma once
// ConfigNode: a YAML mapping read with its key path, so every error names where it happened
// ("model.layers[2].filters: expected an integer, got 'abc'"), and unknown keys are errors
// with a "did you mean" suggestion. Call finish() after reading all keys of a mapping.
#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kaon/core/error.hpp"

namespace kaon::config {

class ConfigError : public Error {
 public:
  using Error::Error;
};

class ConfigNode {
 public:
  ConfigNode(YAML::Node node, std::string path, std::string source = {});

  const std::string& path() const { return path_; }
  const YAML::Node& yaml() const { return node_; }
  bool isMap() const { return node_.IsMap(); }
  bool isSequence() const { return node_.IsSequence(); }
  bool isScalar() const { return node_.IsScalar(); }
  bool has(const std::string& key) const;

  // Required / optional typed values. T: bool, int, long long, double, std::string,
  // std::vector<int>, std::vector<double>, std::vector<std::string>.
  template <class T> T get(const std::string& key);
  template <class T> T getOr(const std::string& key, T fallback);
  template <class T> std::optional<T> find(const std::string& key);
  // A string that must be one of `choices`.
  std::string getChoice(const std::string& key, const std::vector<std::string>& choices,
                        std::optional<std::string> fallback = std::nullopt);

  ConfigNode child(const std::string& key);                  // required mapping
  std::optional<ConfigNode> findChild(const std::string& key);  // optional mapping
  std::vector<ConfigNode> sequence(const std::string& key);  // required sequence
  ConfigNode at(std::size_t index) const;                    // this node must be a sequence
  std::size_t size() const { return node_.size(); }
  std::vector<std::string> keys() const;
  // This node's own scalar value.
  template <class T> T as() const;

  // Marks a key as read without reading it (it is handled elsewhere).
  void markUsed(const std::string& key) { used_.insert(key); }
  // Throws ConfigError for the first key of this mapping that was never read.
  void finish() const;

  [[noreturn]] void fail(const std::string& message) const;
  [[noreturn]] void failKey(const std::string& key, const std::string& message) const;

 private:
  std::string keyPath(const std::string& key) const;
  YAML::Node node_;
  std::string path_;
  std::string source_;
  std::set<std::string> used_;
};

// Edit distance, for "did you mean" suggestions.
std::size_t levenshtein(const std::string& a, const std::string& b);
// The closest candidate within a small distance, or empty.
std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace kaon::config
