// squant-server: quantizes neural-network weights with SQuant over gRPC.
// See server/README.md for flags, the startup log line and shutdown.

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <memory>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "server/allocator_tuning.h"
#include "server/logging.h"
#include "server/server.h"
#include "server/server_config.h"
#include "server/version.h"

namespace {

sigset_t TerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

}  // namespace

int main(int argc, char** argv) {
  using squant::server::LogEvent;
  absl::SetProgramUsageMessage(
      "Quantizes neural-network weights with SQuant over gRPC "
      "(squant.v1.QuantizationService).");
  absl::ParseCommandLine(argc, argv);
  squant::server::KeepFreedMemoryForReuse();
  // Blocked before any thread starts, so every thread inherits the mask and
  // only the sigwait below receives them.
  const sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<squant::server::ServerConfig> config =
      squant::server::ConfigFromFlags();
  if (!config.ok()) {
    LogEvent("config_error", {{"message", config.status().message()}});
    return EXIT_FAILURE;
  }
  squant::server::SetLogFormat(config->log_format);
  absl::StatusOr<std::unique_ptr<squant::server::SquantServer>> server =
      squant::server::SquantServer::Start(*config);
  if (!server.ok()) {
    LogEvent("start_error", {{"message", server.status().message()}});
    return EXIT_FAILURE;
  }
  const char* tls = config->tls_cert.empty()        ? "plaintext"
                    : config->tls_client_ca.empty() ? "tls"
                                                    : "mtls";
  if (config->tls_cert.empty()) {
    LogEvent("warning",
             {{"message", "no --tls_cert given: gRPC is served in plaintext"}});
  }
  // The line tests and tools parse for the bound ports (server/README.md).
  LogEvent("listening", {{"port", (*server)->port()},
                         {"metrics_port", (*server)->metrics_port()},
                         {"health_port", (*server)->health_port()},
                         {"bind_address", config->bind_address},
                         {"tls", tls},
                         {"workers", (*server)->workers()},
                         {"version", squant::server::kVersion}});

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  LogEvent("draining",
           {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
            {"grace_seconds", absl::ToDoubleSeconds(config->shutdown_grace)}});
  (*server)->Shutdown(config->shutdown_grace);
  server->reset();
  LogEvent("stopped", {});
  return EXIT_SUCCESS;
}
