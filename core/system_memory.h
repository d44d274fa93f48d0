#pragma once
// What the operating system can still give this process (not memgrad's own allocator statistics:
// those are in core/allocator.h).
#include <cstdint>

namespace memgrad::memory {

// MemAvailable from /proc/meminfo in bytes: what the system can hand out without swapping;
// -1 when it cannot be read (not Linux, no /proc).
int64_t system_available_bytes();

}  // namespace memgrad::memory
