// Turning --server and the TLS flags into a gRPC channel that spreads calls
// over every listed replica (round_robin), as a Kubernetes headless Service
// is used.

#ifndef SQUANT_CLIENT_CLI_SERVER_CHANNEL_H_
#define SQUANT_CLIENT_CLI_SERVER_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/cli/command_line.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "squant/v1/quantization.pb.h"

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

// QuantizeModel with requests sent as serialized bytes, so that a chunk's
// tensor bytes go from the caller's memory to the socket without the two
// copies a QuantizeModelRequest costs (into the message, then into its
// serialization). Responses are parsed as usual.
using ModelStream =
    grpc::ClientReaderWriter<grpc::ByteBuffer, v1::QuantizeModelResponse>;
std::unique_ptr<ModelStream> OpenModelStream(grpc::Channel& channel,
                                             grpc::ClientContext& context);

// A QuantizeModelRequest carrying LayerChunk{layer_id, data}, serialized
// around `data` without copying it: `data` must stay valid and unchanged
// until the stream it is written to has finished.
grpc::ByteBuffer LayerChunkRequest(uint64_t layer_id,
                                   absl::Span<const uint8_t> data);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_SERVER_CHANNEL_H_
