// Turning --server and the TLS flags into a gRPC channel that spreads calls
// over every listed replica (round_robin), as a Kubernetes headless Service
// is used.

#ifndef SQUANT_CLIENT_CLI_SERVER_CHANNEL_H_
#define SQUANT_CLIENT_CLI_SERVER_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/cli/command_line.h"
#include "grpcpp/channel.h"

namespace squant::cli {

struct ServerTarget {
  std::string uri;    // what gRPC resolves, e.g. "ipv4:10.0.0.1:5,..."
  int addresses = 1;  // replicas listed (1 for a DNS name)
  bool is_dns_name = false;
  std::string tls_name;  // host name to verify the certificate against
};

// "host:port", "host:port,host:port,..." (resolved here, so that the whole
// list forms one round_robin channel), or a URI such as
// "dns:///name:port" / "ipv4:..." passed through.
absl::StatusOr<ServerTarget> ParseServerTarget(const std::string& server);

// A round_robin channel with no receive-size cap (results come in chunks
// of the server's choosing). Reading TLS files fails with kUsage errors.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const ServerTarget& target, const TlsFiles& tls);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_SERVER_CHANNEL_H_
