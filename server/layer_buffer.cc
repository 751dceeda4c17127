#include "server/layer_buffer.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/allocator_tuning.h"

namespace squant::server {
namespace {

constexpr size_t kHugePageBytes = size_t{2} << 20;

size_t RoundUp(size_t bytes, size_t multiple) {
  return (bytes + multiple - 1) / multiple * multiple;
}

}  // namespace

void LayerBufferDeleter::operator()(uint8_t* bytes) const {
  if (mapped_bytes == 0) {
    delete[] bytes;
  } else {
    ::munmap(bytes, mapped_bytes);
  }
}

absl::StatusOr<LayerBuffer> AllocateLayerBuffer(size_t bytes) {
  // Small enough to come from malloc's arenas, which keep freed memory for
  // the next layer (KeepFreedMemoryForReuse): no page faults once warm.
  // The margin keeps malloc's own header under its threshold too.
  if (bytes <= kLargestArenaChunkBytes - kHugePageBytes) {
    uint8_t* memory = new (std::nothrow) uint8_t[bytes];
    if (memory == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", bytes, " bytes"));
    }
    return LayerBuffer(memory);
  }
  // Huge pages need 2 MiB alignment: map one page more, trim both ends.
  const size_t size = RoundUp(bytes, kHugePageBytes);
  void* mapping = ::mmap(nullptr, size + kHugePageBytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot map ", bytes, " bytes"));
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(mapping);
  const uintptr_t aligned = RoundUp(start, kHugePageBytes);
  if (aligned > start) ::munmap(mapping, aligned - start);
  const uintptr_t end = start + size + kHugePageBytes;
  if (end > aligned + size) {
    ::munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  }
  uint8_t* memory = reinterpret_cast<uint8_t*>(aligned);
  // Advice only: without huge pages the buffer works the same.
  ::madvise(memory, size, MADV_HUGEPAGE);
  return LayerBuffer(memory, LayerBufferDeleter{size});
}

}  // namespace squant::server
