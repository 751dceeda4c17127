#include "server/allocator_tuning.h"

#include <malloc.h>

namespace squant::server {

void KeepFreedMemoryForReuse() {
  // An arena returns its free top to the kernel only beyond 64 MiB.
  // Advice: on failure the defaults stay.
  (void)::mallopt(M_MMAP_THRESHOLD, kLargestArenaChunkBytes);
  (void)::mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

}  // namespace squant::server
