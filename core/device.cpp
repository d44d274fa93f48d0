#include "core/device.h"

#include "core/error.h"

namespace memgrad {

Device Device::parse(std::string_view s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.starts_with("cuda:")) {
    std::string rest(s.substr(5));
    try {
      size_t used = 0;
      int i = std::stoi(rest, &used);
      if (used == rest.size() && i >= 0) return cuda(i);
    } catch (const std::exception&) {
    }
  }
  fail("device", "cannot parse device '{}' (expected cpu, cuda or cuda:N)", s);
}

std::string Device::str() const {
  return is_cpu() ? "cpu" : "cuda:" + std::to_string(index);
}

}  // namespace memgrad
