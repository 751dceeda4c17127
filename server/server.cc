#include "server/server.h"

#include <algorithm>
#include <climits>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/available_cpus.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/version.h"

namespace squant::server {
namespace {

std::string HostPort(const std::string& host, int port) {
  // An IPv6 literal needs brackets before the port.
  if (absl::StrContains(host, ':') && !absl::StartsWith(host, "[")) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view flag) {
  std::ifstream file(path);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read ", path));
  }
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const ServerConfig& config) {
  if (config.tls_cert.empty()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadFile(config.tls_cert, "tls_cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(config.tls_key, "tls_key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(
      config.tls_client_ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!config.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca =
        ReadFile(config.tls_client_ca, "tls_client_ca");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
  }
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

// A channel argument in milliseconds; gRPC reads INT_MAX as "never".
int ChannelArgMillis(absl::Duration duration) {
  if (duration >= absl::Milliseconds(INT_MAX)) return INT_MAX;
  return static_cast<int>(absl::ToInt64Milliseconds(duration));
}

void SetServing(grpc::Server& server) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  health->SetServingStatus(true);
  health->SetServingStatus("", true);
  health->SetServingStatus(std::string(kServiceName), true);
}

}  // namespace

SquantServer::SquantServer(ServerConfig config) : config_(std::move(config)) {}

absl::StatusOr<std::unique_ptr<SquantServer>> SquantServer::Start(
    ServerConfig config) {
  if (absl::Status status = ValidateConfig(config); !status.ok()) {
    return status;
  }
  if (config.workers == 0) config.workers = AvailableCpus();
  std::unique_ptr<SquantServer> server(new SquantServer(std::move(config)));
  if (absl::Status status = server->Build(); !status.ok()) return status;
  return server;
}

absl::Status SquantServer::Build() {
  metrics_ = std::make_unique<ServiceMetrics>(kVersion);
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(
        HostPort(config_.metrics_bind_address, config_.metrics_port));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve metrics on ",
        HostPort(config_.metrics_bind_address, config_.metrics_port), ": ",
        e.what()));
  }
  exposer_->RegisterCollectable(metrics_->registry());
  const std::vector<int> metrics_ports = exposer_->GetListeningPorts();
  metrics_port_ = metrics_ports.empty() ? 0 : metrics_ports.front();

  budget_ = std::make_unique<MemoryBudget>(config_.global_buffer_bytes,
                                           metrics_->buffered_bytes());
  calls_ = std::make_unique<CallTracker>(config_.max_concurrent_streams);
  streams_ = std::make_unique<StreamRegistry>(
      std::clamp(config_.stream_idle_timeout / 4, absl::Milliseconds(10),
                 absl::Seconds(1)));
  pool_ =
      std::make_unique<WorkerPool>(config_.workers, &metrics_->workers_busy());
  metrics_->workers().Set(pool_->size());
  runtime_ = std::make_unique<ServiceRuntime>(
      ServiceRuntime{config_, *metrics_, *pool_, *budget_, *streams_, *calls_});
  service_ = std::make_unique<QuantizationService>(*runtime_);

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      Credentials(config_);
  if (!credentials.ok()) return credentials.status();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  builder.AddListeningPort(HostPort(config_.bind_address, config_.port),
                           *credentials, &port_);
  builder.RegisterService(service_.get());
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(MaxReceiveMessageBytes(config_)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             ChannelArgMillis(config_.max_connection_age));
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
      ChannelArgMillis(config_.max_connection_age_grace));
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve gRPC on ", HostPort(config_.bind_address, config_.port)));
  }
  SetServing(*server_);

  if (config_.health_port != 0) {
    grpc::ServerBuilder health_builder;
    health_builder.AddListeningPort(
        HostPort(config_.bind_address, config_.health_port),
        grpc::InsecureServerCredentials(), &health_port_);
    health_server_ = health_builder.BuildAndStart();
    if (health_server_ == nullptr || health_port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve health checks on ",
                       HostPort(config_.bind_address, config_.health_port)));
    }
    SetServing(*health_server_);
  }
  return absl::OkStatus();
}

void SquantServer::Shutdown(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  calls_->StartDraining();
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server != nullptr) server->GetHealthCheckService()->Shutdown();
  }
  const absl::Time deadline = absl::Now() + grace;
  const bool drained = calls_->WaitUntilIdle(deadline);
  LogEvent("drained", {{"all_calls_ended", drained},
                       {"streams_cancelled", calls_->open_streams()}});
  // Cancels whatever still runs; reactors then finish promptly.
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server != nullptr) server->Shutdown(absl::ToChronoTime(absl::Now()));
  }
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server != nullptr) server->Wait();
  }
}

SquantServer::~SquantServer() {
  if (server_ != nullptr) Shutdown(absl::ZeroDuration());
  // Workers finish what they run first: their tasks use the service, the
  // runtime and the streams' registry.
  pool_.reset();
}

}  // namespace squant::server
