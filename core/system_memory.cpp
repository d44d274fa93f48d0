// MemAvailable from /proc/meminfo (core/system_memory.h).
#include "core/system_memory.h"

#include <fstream>
#include <sstream>
#include <string>

namespace memgrad::memory {

int64_t system_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    int64_t kib = -1;
    fields >> kib;
    return kib < 0 ? -1 : kib * 1024;
  }
  return -1;
}

}  // namespace memgrad::memory
