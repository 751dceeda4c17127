// Everything squant-server can be configured with. Filled from flags by
// ConfigFromFlags (server_flags.cc); tests build one directly.

#ifndef SQUANT_SERVER_SERVER_CONFIG_H_
#define SQUANT_SERVER_SERVER_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/logging.h"

namespace squant::server {

inline constexpr int64_t kMiB = int64_t{1} << 20;
inline constexpr int64_t kGiB = int64_t{1} << 30;

struct ServerConfig {
  std::string bind_address = "0.0.0.0";
  int port = 50051;  // 0 picks a free port
  std::string metrics_bind_address = "0.0.0.0";
  int metrics_port = 9464;  // 0 picks a free port
  int health_port = 0;      // 0: no plaintext health-only server
  int workers = 0;          // 0: the CPUs available to the process
  int64_t max_layer_bytes = 8 * kGiB;
  int64_t max_layer_channels = 262144;
  int64_t max_unary_layer_bytes = 64 * kMiB;
  int64_t stream_buffer_bytes = 256 * kMiB;
  int64_t global_buffer_bytes = 2 * kGiB;
  int max_concurrent_streams = 64;
  int64_t chunk_bytes = 4 * kMiB;
  absl::Duration stream_idle_timeout = absl::Seconds(60);
  absl::Duration shutdown_grace = absl::Seconds(25);
  // A connection this old is sent GOAWAY, so that its client reconnects
  // and lands on replicas added since; its running calls then get the
  // grace to end before the connection is closed. InfiniteDuration() keeps
  // connections (and calls) for as long as they last.
  absl::Duration max_connection_age = absl::Minutes(30);
  absl::Duration max_connection_age_grace = absl::Minutes(10);
  // PEM file paths; TLS is on when tls_cert is set, mutual TLS when
  // tls_client_ca is set too.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  LogFormat log_format = LogFormat::kJson;
};

// Rejects values the server cannot run with (negative sizes, a chunk size
// over what one message may carry, a key without a certificate...).
absl::Status ValidateConfig(const ServerConfig& config);

// The configuration given by the command-line flags (server_flags.cc),
// validated, with --workers=0 resolved to the available CPUs.
absl::StatusOr<ServerConfig> ConfigFromFlags();

// The largest gRPC message the server accepts: a whole unary layer or one
// stream chunk, plus room for the fields around the bytes.
int64_t MaxReceiveMessageBytes(const ServerConfig& config);

}  // namespace squant::server

#endif  // SQUANT_SERVER_SERVER_CONFIG_H_
