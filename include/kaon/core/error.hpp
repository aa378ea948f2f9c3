#pragma once
// kaon::Error and the check macros. Library code throws; only main() decides to exit or abort.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace kaon {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Thrown when a feature is recognised but not built yet: fails loudly instead of pretending.
class NotImplemented : public Error {
 public:
  explicit NotImplemented(const std::string& what) : Error("not implemented: " + what) {}
};

namespace detail {
[[noreturn]] void throwError(const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace kaon

// KAON_CHECK(cond, "format {}", args...): throws kaon::Error naming file and line when cond is false.
#define KAON_CHECK(cond, ...)                                                        \
  do {                                                                               \
    if (!(cond)) ::kaon::detail::throwError(__FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
  } while (0)

#define KAON_FAIL(...) ::kaon::detail::throwError(__FILE__, __LINE__, fmt::format(__VA_ARGS__))
