#include "server/status_mapping.h"

#include <array>
#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace squant::server {
namespace {

constexpr absl::string_view kReasonPayloadUrl =
    "type.squant.dev/squant.server.ErrorReason";

struct ReasonInfo {
  absl::string_view label;
  absl::StatusCode code;
};

constexpr std::array<ReasonInfo, kErrorReasonCount> kReasons = {{
    {"invalid_options", absl::StatusCode::kInvalidArgument},
    {"invalid_shape", absl::StatusCode::kInvalidArgument},
    {"byte_count", absl::StatusCode::kInvalidArgument},
    {"non_finite", absl::StatusCode::kInvalidArgument},
    {"unknown_layer", absl::StatusCode::kInvalidArgument},
    {"duplicate_layer", absl::StatusCode::kInvalidArgument},
    {"incomplete_layer", absl::StatusCode::kInvalidArgument},
    {"layer_too_large", absl::StatusCode::kResourceExhausted},
    {"too_many_streams", absl::StatusCode::kResourceExhausted},
    {"cancelled", absl::StatusCode::kCancelled},
    {"deadline", absl::StatusCode::kDeadlineExceeded},
    // A stalled client is told its stream timed out, as a deadline would;
    // the reason label keeps it apart from client deadlines.
    {"idle_timeout", absl::StatusCode::kDeadlineExceeded},
    {"draining", absl::StatusCode::kUnavailable},
    {"internal", absl::StatusCode::kInternal},
}};

constexpr std::array<absl::string_view, kGrpcCodeCount> kGoCodeNames = {
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
};

std::optional<ErrorReason> AttachedReason(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kReasonPayloadUrl);
  if (!payload) return std::nullopt;
  for (int i = 0; i < kErrorReasonCount; ++i) {
    if (*payload == kReasons[i].label) return static_cast<ErrorReason>(i);
  }
  return std::nullopt;
}

}  // namespace

absl::string_view ReasonLabel(ErrorReason reason) {
  return kReasons[static_cast<int>(reason)].label;
}

absl::Status ServiceError(ErrorReason reason, absl::string_view message) {
  const ReasonInfo& info = kReasons[static_cast<int>(reason)];
  absl::Status status(info.code, message);
  status.SetPayload(kReasonPayloadUrl, absl::Cord(info.label));
  return status;
}

ErrorReason ReasonOf(const absl::Status& status) {
  if (std::optional<ErrorReason> reason = AttachedReason(status)) {
    return *reason;
  }
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return ErrorReason::kInvalidShape;
    case absl::StatusCode::kCancelled:
      return ErrorReason::kCancelled;
    case absl::StatusCode::kDeadlineExceeded:
      return ErrorReason::kDeadline;
    case absl::StatusCode::kResourceExhausted:
      return ErrorReason::kLayerTooLarge;
    case absl::StatusCode::kUnavailable:
      return ErrorReason::kDraining;
    default:
      return ErrorReason::kInternal;
  }
}

std::string LayerLabel(uint64_t layer_id, absl::string_view name) {
  return absl::StrCat("layer ", layer_id, " \"", name, "\"");
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  // absl::StatusCode and grpc::StatusCode share the canonical numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::string_view GrpcCodeName(grpc::StatusCode code) {
  const int index = static_cast<int>(code);
  if (index < 0 || index >= kGrpcCodeCount) return "Unknown";
  return kGoCodeNames[index];
}

}  // namespace squant::server
