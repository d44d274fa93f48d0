#include "core/storage.h"

#include "core/allocator.h"
#include "core/error.h"

namespace memgrad {

Storage::Storage(size_t nbytes, Device device)
    : nbytes_(nbytes), device_(device), category_(memory::current_category()) {
  data_ = memory::detail::allocate_counted(device, nbytes, category_, trace_id_);
}

Storage::Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> owner)
    : data_(data), nbytes_(nbytes), device_(device), owner_(std::move(owner)), category_(memory::Category::user) {
  MG_CHECK(owner_ != nullptr, "storage", "external memory needs an owner that keeps it alive");
}

Storage::~Storage() {
  if (owner_) return;  // external memory: releasing owner_ (a member) gives it back
  memory::detail::deallocate_counted(device_, data_, nbytes_, category_, trace_id_);
}

void Storage::set_category(memory::Category c) {
  if (owner_ || c == category_) return;
  memory::detail::recategorize(device_, nbytes_, category_, c, trace_id_);
  category_ = c;
}

}  // namespace memgrad
