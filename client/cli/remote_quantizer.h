// Quantizes layers through one or more squant-server replicas: N parallel
// QuantizeModel streams over one round_robin channel, each taking layers
// from a shared queue while it has room in its window; a stream that fails
// with UNAVAILABLE has its unfinished layers put back for another stream
// (finished layers are never redone).

#ifndef SQUANT_CLIENT_CLI_REMOTE_QUANTIZER_H_
#define SQUANT_CLIENT_CLI_REMOTE_QUANTIZER_H_

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/cli/output_file.h"
#include "client/cli/progress.h"
#include "client/cli/report.h"
#include "client/cli/selection.h"
#include "grpcpp/channel.h"

namespace squant::cli {

struct RemoteOptions {
  std::shared_ptr<grpc::Channel> channel;
  int streams = 1;
  absl::Time deadline = absl::InfiniteFuture();
  // Attempts per layer before a run of UNAVAILABLE streams is given up.
  int max_attempts_per_layer = 4;
};

struct RemoteRunStats {
  int stream_retries = 0;
};

// Results are written into `out` as they arrive; `reports` gets one entry
// per task. Errors name the tensor when the server does and carry
// ExitCode::kInput (the server rejected a tensor) or kServer.
absl::StatusOr<RemoteRunStats> QuantizeRemotely(
    const RemoteOptions& options, absl::Span<const LayerTask> tasks,
    QuantizedModelWriter& out, Progress& progress,
    std::vector<LayerReport>& reports);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_REMOTE_QUANTIZER_H_
