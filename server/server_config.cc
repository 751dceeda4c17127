#include "server/server_config.h"

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace squant::server {
namespace {

// Protobuf messages cannot exceed 2 GiB; keep clear of it.
constexpr int64_t kMaxMessageBytes = kGiB;
constexpr int64_t kMessageOverheadBytes = kMiB;

absl::Status CheckPositive(absl::string_view name, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--", name, " must be positive, got ", value));
}

absl::Status CheckPort(absl::string_view name, int port) {
  if (port >= 0 && port <= 65535) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--", name, " must be in [0, 65535], got ", port));
}

}  // namespace

absl::Status ValidateConfig(const ServerConfig& config) {
  for (const absl::Status& status :
       {CheckPort("port", config.port),
        CheckPort("metrics_port", config.metrics_port),
        CheckPort("health_port", config.health_port),
        CheckPositive("max_layer_bytes", config.max_layer_bytes),
        CheckPositive("max_layer_channels", config.max_layer_channels),
        CheckPositive("max_unary_layer_bytes", config.max_unary_layer_bytes),
        CheckPositive("stream_buffer_bytes", config.stream_buffer_bytes),
        CheckPositive("global_buffer_bytes", config.global_buffer_bytes),
        CheckPositive("max_concurrent_streams", config.max_concurrent_streams),
        CheckPositive("chunk_bytes", config.chunk_bytes)}) {
    if (!status.ok()) return status;
  }
  if (config.workers < 0) {
    return absl::InvalidArgumentError("--workers must be >= 0 (0 = auto)");
  }
  if (config.chunk_bytes > kMaxMessageBytes - kMessageOverheadBytes ||
      config.max_unary_layer_bytes > kMaxMessageBytes - kMessageOverheadBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--chunk_bytes and --max_unary_layer_bytes must stay "
        "below ",
        kMaxMessageBytes - kMessageOverheadBytes, " (one gRPC message)"));
  }
  if (config.stream_idle_timeout <= absl::ZeroDuration() ||
      config.shutdown_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--stream_idle_timeout must be positive and --shutdown_grace >= 0");
  }
  if (config.max_connection_age <= absl::ZeroDuration() ||
      config.max_connection_age_grace <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--max_connection_age and --max_connection_age_grace must be "
        "positive (\"inf\" for no limit)");
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key must be given together");
  }
  if (!config.tls_client_ca.empty() && config.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca (mutual TLS) needs --tls_cert and --tls_key");
  }
  return absl::OkStatus();
}

int64_t MaxReceiveMessageBytes(const ServerConfig& config) {
  return std::max(config.max_unary_layer_bytes, config.chunk_bytes) +
         kMessageOverheadBytes;
}

}  // namespace squant::server
