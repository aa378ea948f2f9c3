#pragma once
// Where a tensor's memory lives. Copies between devices are always explicit (Tensor::to).
#include <cstdint>
#include <string>

namespace kaon {

enum class DeviceType : std::uint8_t { Cpu, Cuda };

struct Device {
  DeviceType type = DeviceType::Cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::Cpu, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::Cuda, index}; }
  bool isCpu() const { return type == DeviceType::Cpu; }
  bool isCuda() const { return type == DeviceType::Cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const { return isCpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

}  // namespace kaon
