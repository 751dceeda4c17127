// The command-line flags of squant-server. Their names are relied on by the
// Kubernetes manifests, the Dockerfile and the dashboards: keep them.

#include <cstdint>
#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "server/available_cpus.h"
#include "server/logging.h"
#include "server/server_config.h"

ABSL_FLAG(std::string, bind_address, "0.0.0.0",
          "Address the gRPC server listens on (also the health port's).");
ABSL_FLAG(int, port, 50051,
          "gRPC port; 0 picks a free one (see the "
          "\"listening\" log line).");
ABSL_FLAG(std::string, metrics_bind_address, "0.0.0.0",
          "Address the Prometheus /metrics endpoint listens on.");
ABSL_FLAG(int, metrics_port, 9464,
          "Prometheus /metrics port; 0 picks a free one.");
ABSL_FLAG(int, health_port, 0,
          "When set, a plaintext server on this port serves only "
          "grpc.health.v1 (for kubelet probes when TLS is on); 0 disables.");
ABSL_FLAG(int, workers, 0,
          "Worker threads quantizing layers, shared by all streams; 0 = the "
          "CPUs available to the process (affinity and cgroup quota).");
ABSL_FLAG(int64_t, max_layer_bytes,
          squant::server::ServerConfig{}.max_layer_bytes,
          "Largest layer accepted by QuantizeModel, in input bytes "
          "(RESOURCE_EXHAUSTED above).");
ABSL_FLAG(int64_t, max_layer_channels,
          squant::server::ServerConfig{}.max_layer_channels,
          "Largest number of output channels in a layer.");
ABSL_FLAG(int64_t, max_unary_layer_bytes,
          squant::server::ServerConfig{}.max_unary_layer_bytes,
          "Largest layer accepted by QuantizeLayer, in input bytes; the max "
          "receive message size is set to fit it.");
ABSL_FLAG(int64_t, stream_buffer_bytes,
          squant::server::ServerConfig{}.stream_buffer_bytes,
          "Per stream: input bytes received and not yet quantized beyond "
          "which the server stops reading the stream until workers catch up.");
ABSL_FLAG(int64_t, global_buffer_bytes,
          squant::server::ServerConfig{}.global_buffer_bytes,
          "The same cap over all streams together.");
ABSL_FLAG(int, max_concurrent_streams,
          squant::server::ServerConfig{}.max_concurrent_streams,
          "QuantizeModel streams open at once; more get RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, chunk_bytes, squant::server::ServerConfig{}.chunk_bytes,
          "Size of the LayerValues chunks sent, and the LayerChunk size "
          "recommended to clients, in bytes.");
ABSL_FLAG(absl::Duration, stream_idle_timeout,
          squant::server::ServerConfig{}.stream_idle_timeout,
          "A stream with an incomplete layer that sends nothing for this long "
          "is ended with DEADLINE_EXCEEDED and its memory freed.");
ABSL_FLAG(absl::Duration, shutdown_grace,
          squant::server::ServerConfig{}.shutdown_grace,
          "On SIGTERM/SIGINT, how long running calls may take to finish "
          "before they are cancelled.");
ABSL_FLAG(absl::Duration, max_connection_age,
          squant::server::ServerConfig{}.max_connection_age,
          "A client connection this old (+/-10% jitter) is asked to go away "
          "(HTTP/2 GOAWAY): its client reconnects and may pick a replica "
          "added since. Running calls are not cut at once. \"inf\": never.");
ABSL_FLAG(absl::Duration, max_connection_age_grace,
          squant::server::ServerConfig{}.max_connection_age_grace,
          "After --max_connection_age, how long the calls still running on "
          "the connection may take before it is closed (they then fail "
          "UNAVAILABLE). \"inf\": wait for them.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain; enables TLS (with --tls_key). Without it "
          "the server is plaintext.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; when set, clients must present a certificate it "
          "signed (mutual TLS).");
ABSL_FLAG(std::string, log_format, "json",
          "\"json\" (one JSON object per line) or \"text\" (key=value).");

namespace squant::server {

absl::StatusOr<ServerConfig> ConfigFromFlags() {
  ServerConfig config;
  config.bind_address = absl::GetFlag(FLAGS_bind_address);
  config.port = absl::GetFlag(FLAGS_port);
  config.metrics_bind_address = absl::GetFlag(FLAGS_metrics_bind_address);
  config.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  config.health_port = absl::GetFlag(FLAGS_health_port);
  config.workers = absl::GetFlag(FLAGS_workers);
  config.max_layer_bytes = absl::GetFlag(FLAGS_max_layer_bytes);
  config.max_layer_channels = absl::GetFlag(FLAGS_max_layer_channels);
  config.max_unary_layer_bytes = absl::GetFlag(FLAGS_max_unary_layer_bytes);
  config.stream_buffer_bytes = absl::GetFlag(FLAGS_stream_buffer_bytes);
  config.global_buffer_bytes = absl::GetFlag(FLAGS_global_buffer_bytes);
  config.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  config.chunk_bytes = absl::GetFlag(FLAGS_chunk_bytes);
  config.stream_idle_timeout = absl::GetFlag(FLAGS_stream_idle_timeout);
  config.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  config.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  config.max_connection_age_grace =
      absl::GetFlag(FLAGS_max_connection_age_grace);
  config.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  config.tls_key = absl::GetFlag(FLAGS_tls_key);
  config.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  absl::StatusOr<LogFormat> log_format =
      ParseLogFormat(absl::GetFlag(FLAGS_log_format));
  if (!log_format.ok()) return log_format.status();
  config.log_format = *log_format;
  if (config.workers == 0) config.workers = AvailableCpus();
  if (absl::Status status = ValidateConfig(config); !status.ok()) {
    return status;
  }
  return config;
}

}  // namespace squant::server
