#ifndef SQUANT_CLIENT_CLI_PAGE_RELEASE_H_
#define SQUANT_CLIENT_CLI_PAGE_RELEASE_H_

#include <cstdint>

#include "absl/types/span.h"

namespace squant::cli {

// Drops the resident pages wholly inside `bytes`, a range of a read-only
// file mapping, once they have been used. Without it every page of the
// input stays resident after it was read, and a 13 GB model would cost
// 13 GB of RSS; re-reading a released range simply faults it in again.
void ReleaseMappedPages(absl::Span<const uint8_t> bytes);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_PAGE_RELEASE_H_
