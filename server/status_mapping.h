// The one place where failures get their gRPC code and their metric reason.
// Errors travel as absl::Status; ServiceError() attaches the reason, and
// ToGrpcStatus() turns the result into what the client sees.

#ifndef SQUANT_SERVER_STATUS_MAPPING_H_
#define SQUANT_SERVER_STATUS_MAPPING_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace squant::server {

// Why a call failed: the `reason` label of squant_errors_total. A fixed,
// small set (bounded label cardinality).
enum class ErrorReason {
  kInvalidOptions,   // bad options; options missing, repeated or misplaced
  kInvalidShape,     // bad shape or dtype
  kByteCount,        // more or fewer bytes than the shape needs
  kNonFinite,        // a NaN or Inf weight
  kUnknownLayer,     // a chunk for an unknown or already complete layer
  kDuplicateLayer,   // a layer id announced twice
  kIncompleteLayer,  // the client half-closed with a layer incomplete
  kLayerTooLarge,    // over --max_layer_bytes / --max_layer_channels
  kTooManyStreams,   // over --max_concurrent_streams
  kCancelled,        // the client cancelled
  kDeadline,         // the client's deadline expired
  kIdleTimeout,      // nothing received for --stream_idle_timeout
  kDraining,         // the server is shutting down
  kInternal,
};
inline constexpr int kErrorReasonCount =
    static_cast<int>(ErrorReason::kInternal) + 1;

// "invalid_options", "byte_count", ...
absl::string_view ReasonLabel(ErrorReason reason);

// A status with the code that `reason` maps to and the reason attached.
absl::Status ServiceError(ErrorReason reason, absl::string_view message);

// The reason attached by ServiceError; statuses from elsewhere (the core
// reports bad values as INVALID_ARGUMENT) get one from their code.
ErrorReason ReasonOf(const absl::Status& status);

// How messages name a layer: `layer 3 "conv1.weight"`.
std::string LayerLabel(uint64_t layer_id, absl::string_view name);

grpc::Status ToGrpcStatus(const absl::Status& status);

// Go's spelling of a code ("InvalidArgument"), the grpc_code label value
// the gRPC ecosystem's dashboards expect.
absl::string_view GrpcCodeName(grpc::StatusCode code);
inline constexpr int kGrpcCodeCount = 17;

}  // namespace squant::server

#endif  // SQUANT_SERVER_STATUS_MAPPING_H_
