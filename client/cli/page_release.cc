#include "client/cli/page_release.h"

#include <sys/mman.h>
#include <unistd.h>

namespace squant::cli {

void ReleaseMappedPages(absl::Span<const uint8_t> bytes) {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(bytes.data());
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + bytes.size()) / page * page;
  if (last <= first) return;
  // Advice only: failure leaves the pages resident, which is harmless.
  ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace squant::cli
