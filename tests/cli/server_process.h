// A real squant-server on loopback with kernel-chosen ports, found from its
// "listening" log line (server/README.md), and its Prometheus counters.

#ifndef SQUANT_TESTS_CLI_SERVER_PROCESS_H_
#define SQUANT_TESTS_CLI_SERVER_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/cli/child_process.h"

namespace squant::testing {

class ServerProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& name,
      const std::vector<std::string>& extra_flags = {});

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int port() const { return port_; }
  ChildProcess& process() { return process_; }

  // The sum of squant_layers_total over its labels, scraped from /metrics.
  absl::StatusOr<double> LayersQuantized() const;

 private:
  ServerProcess(ChildProcess process, int port, int metrics_port)
      : process_(std::move(process)),
        port_(port),
        metrics_port_(metrics_port) {}

  ChildProcess process_;
  int port_;
  int metrics_port_;
};

}  // namespace squant::testing

#endif  // SQUANT_TESTS_CLI_SERVER_PROCESS_H_
