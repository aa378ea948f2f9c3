#include "kaon/core/error.hpp"

#include <filesystem>

namespace kaon::detail {

void throwError(const char* file, int line, const std::string& message) {
  throw Error(fmt::format("{} ({}:{})", message, std::filesystem::path(file).filename().string(), line));
}

}  // namespace kaon::detail
