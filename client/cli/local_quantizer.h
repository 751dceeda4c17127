// --local: the same core, in-process, one layer at a time.

#ifndef SQUANT_CLIENT_CLI_LOCAL_QUANTIZER_H_
#define SQUANT_CLIENT_CLI_LOCAL_QUANTIZER_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "client/cli/output_file.h"
#include "client/cli/progress.h"
#include "client/cli/report.h"
#include "client/cli/selection.h"

namespace squant::cli {

// Quantizes every task with `threads` threads per layer, writing results
// into `out` and filling `reports` (one per task, same order). Only one
// layer's values are held at a time.
absl::Status QuantizeLocally(absl::Span<const LayerTask> tasks, int threads,
                             QuantizedModelWriter& out, Progress& progress,
                             std::vector<LayerReport>& reports);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_LOCAL_QUANTIZER_H_
