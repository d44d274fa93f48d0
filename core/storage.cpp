#include "core/storage.h"

#include "core/allocator.h"
#include "core/error.h"

namespace memgrad {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = allocator_for(device).allocate(nbytes);
}

Storage::Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner)
    : data_(data), nbytes_(nbytes), device_(device), owner_(std::move(owner)) {
  MG_CHECK(owner_ != nullptr, "storage", "external memory needs an owner that keeps it alive");
}

Storage::~Storage() {
  if (owner_) return;  // external memory: releasing owner_ (a member) gives it back
  allocator_for(device_).deallocate(data_, nbytes_);
}

}  // namespace memgrad
