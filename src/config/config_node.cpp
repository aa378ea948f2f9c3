#include "kaon/config/config_node.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kaon::config {
namespace {

std::string describe(const YAML::Node& n) {
  if (n.IsScalar()) return "'" + n.Scalar() + "'";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}

template <class T> const char* typeName();
template <> const char* typeName<bool>() { return "true or false"; }
template <> const char* typeName<int>() { return "an integer"; }
template <> const char* typeName<long long>() { return "an integer"; }
template <> const char* typeName<double>() { return "a number"; }
template <> const char* typeName<std::string>() { return "a string"; }
template <> const char* typeName<std::vector<int>>() { return "an integer or a list of integers"; }
template <> const char* typeName<std::vector<double>>() { return "a number or a list of numbers"; }
template <> const char* typeName<std::vector<std::string>>() { return "a string or a list of strings"; }

template <class T>
bool convertScalar(const YAML::Node& n, T& out) {
  if (!n.IsScalar()) return false;
  const std::string& s = n.Scalar();
  if constexpr (std::is_same_v<T, std::string>) {
    out = s;
    return true;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (s == "true" || s == "True" || s == "yes") return out = true, true;
    if (s == "false" || s == "False" || s == "no") return out = false, true;
    return false;
  } else if constexpr (std::is_integral_v<T>) {
    try {
      std::size_t pos = 0;
      long long v = std::stoll(s, &pos);
      if (pos != s.size()) return false;
      out = static_cast<T>(v);
      return static_cast<long long>(out) == v;
    } catch (...) {
      return false;
    }
  } else {
    try {
      std::size_t pos = 0;
      double v = std::stod(s, &pos);
      if (pos != s.size() || !std::isfinite(v)) return false;
      out = v;
      return true;
    } catch (...) {
      return false;
    }
  }
}

template <class T>
bool convert(const YAML::Node& n, T& out) {
  if constexpr (std::is_same_v<T, std::vector<int>> || std::is_same_v<T, std::vector<double>> ||
                std::is_same_v<T, std::vector<std::string>>) {
    using E = typename T::value_type;
    out.clear();
    if (n.IsScalar()) {  // a single value stands for a one-element list
      E e;
      if (!convertScalar(n, e)) return false;
      out.push_back(e);
      return true;
    }
    if (!n.IsSequence()) return false;
    for (const auto& item : n) {
      E e;
      if (!convertScalar(item, e)) return false;
      out.push_back(e);
    }
    return true;
  } else {
    return convertScalar(n, out);
  }
}

}  // namespace

std::size_t levenshtein(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string closestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t bestDistance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    std::size_t d = levenshtein(word, c);
    if (d < bestDistance) bestDistance = d, best = c;
  }
  return best;
}

ConfigNode::ConfigNode(YAML::Node node, std::string path, std::string source)
    : node_(std::move(node)), path_(std::move(path)), source_(std::move(source)) {}

std::string ConfigNode::keyPath(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

void ConfigNode::fail(const std::string& message) const {
  std::string where = path_.empty() ? "config" : path_;
  throw ConfigError(fmt::format("{}{}: {}", source_.empty() ? "" : source_ + ": ", where, message));
}

void ConfigNode::failKey(const std::string& key, const std::string& message) const {
  throw ConfigError(fmt::format("{}{}: {}", source_.empty() ? "" : source_ + ": ", keyPath(key), message));
}

bool ConfigNode::has(const std::string& key) const {
  return node_.IsMap() && node_[key].IsDefined() && !node_[key].IsNull();
}

std::vector<std::string> ConfigNode::keys() const {
  std::vector<std::string> out;
  if (node_.IsMap())
    for (const auto& kv : node_) out.push_back(kv.first.as<std::string>());
  return out;
}

template <class T>
std::optional<T> ConfigNode::find(const std::string& key) {
  if (!node_.IsMap()) fail("expected a mapping of keys, got " + describe(node_));
  used_.insert(key);
  if (!has(key)) return std::nullopt;
  T out{};
  if (!convert(node_[key], out))
    failKey(key, fmt::format("expected {}, got {}", typeName<T>(), describe(node_[key])));
  return out;
}

template <class T>
T ConfigNode::get(const std::string& key) {
  auto v = find<T>(key);
  if (!v) failKey(key, "missing required key");
  return *v;
}

template <class T>
T ConfigNode::getOr(const std::string& key, T fallback) {
  auto v = find<T>(key);
  return v ? *v : fallback;
}

template <class T>
T ConfigNode::as() const {
  T out{};
  if (!convert(node_, out)) fail(fmt::format("expected {}, got {}", typeName<T>(), describe(node_)));
  return out;
}

#define KAON_CONFIG_INSTANTIATE(T)                                          \
  template T ConfigNode::get<T>(const std::string&);                        \
  template T ConfigNode::getOr<T>(const std::string&, T);                   \
  template std::optional<T> ConfigNode::find<T>(const std::string&);        \
  template T ConfigNode::as<T>() const;
KAON_CONFIG_INSTANTIATE(bool)
KAON_CONFIG_INSTANTIATE(int)
KAON_CONFIG_INSTANTIATE(long long)
KAON_CONFIG_INSTANTIATE(double)
KAON_CONFIG_INSTANTIATE(std::string)
KAON_CONFIG_INSTANTIATE(std::vector<int>)
KAON_CONFIG_INSTANTIATE(std::vector<double>)
KAON_CONFIG_INSTANTIATE(std::vector<std::string>)
#undef KAON_CONFIG_INSTANTIATE

std::string ConfigNode::getChoice(const std::string& key, const std::vector<std::string>& choices,
                                  std::optional<std::string> fallback) {
  auto v = find<std::string>(key);
  if (!v) {
    if (fallback) return *fallback;
    failKey(key, "missing required key");
  }
  if (std::find(choices.begin(), choices.end(), *v) != choices.end()) return *v;
  std::string list = fmt::format("{}", fmt::join(choices, ", "));
  std::string near = closestMatch(*v, choices);
  failKey(key, fmt::format("unknown value '{}'{}; expected one of: {}", *v,
                           near.empty() ? "" : " (did you mean '" + near + "'?)", list));
}

ConfigNode ConfigNode::child(const std::string& key) {
  auto c = findChild(key);
  if (!c) failKey(key, "missing required section");
  return *c;
}

std::optional<ConfigNode> ConfigNode::findChild(const std::string& key) {
  if (!node_.IsMap()) fail("expected a mapping of keys, got " + describe(node_));
  used_.insert(key);
  if (!has(key)) return std::nullopt;
  if (!node_[key].IsMap()) failKey(key, "expected a mapping of keys, got " + describe(node_[key]));
  return ConfigNode(node_[key], keyPath(key), source_);
}

std::vector<ConfigNode> ConfigNode::sequence(const std::string& key) {
  if (!node_.IsMap()) fail("expected a mapping of keys, got " + describe(node_));
  used_.insert(key);
  if (!has(key)) failKey(key, "missing required list");
  const YAML::Node& seq = node_[key];
  if (!seq.IsSequence()) failKey(key, "expected a list, got " + describe(seq));
  std::vector<ConfigNode> out;
  for (std::size_t i = 0; i < seq.size(); ++i)
    out.emplace_back(seq[i], fmt::format("{}[{}]", keyPath(key), i), source_);
  return out;
}

ConfigNode ConfigNode::at(std::size_t index) const {
  if (!node_.IsSequence() || index >= node_.size()) fail(fmt::format("no list element {}", index));
  return ConfigNode(node_[index], fmt::format("{}[{}]", path_, index), source_);
}

void ConfigNode::finish() const {
  if (!node_.IsMap()) return;
  std::vector<std::string> known(used_.begin(), used_.end());
  for (const auto& key : keys()) {
    if (used_.count(key)) continue;
    std::string near = closestMatch(key, known);
    failKey(key, near.empty() ? fmt::format("unknown key (valid keys here: {})", fmt::join(known, ", "))
                              : fmt::format("unknown key (did you mean '{}'?)", near));
  }
}

}  // namespace kaon::config
