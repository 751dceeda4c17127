#include "client/cli/server_channel.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/cli/exit_code.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/slice.h"
#include "server/wire_format.h"
#include "squant/v1/quantization.grpc.pb.h"

namespace squant::cli {
namespace {

absl::Status BadServer(const std::string& server, absl::string_view why) {
  return WithExitCode(absl::InvalidArgumentError(
                          absl::StrCat("--server '", server, "': ", why)),
                      ExitCode::kUsage);
}

struct HostPort {
  std::string host;
  std::string port;
};

absl::StatusOr<HostPort> SplitHostPort(absl::string_view entry) {
  if (absl::StartsWith(entry, "[")) {  // [v6]:port
    const size_t close = entry.find("]:");
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", entry, "'"));
    }
    return HostPort{std::string(entry.substr(1, close - 1)),
                    std::string(entry.substr(close + 2))};
  }
  const size_t colon = entry.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 ||
      colon + 1 == entry.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", entry, "' is not HOST:PORT"));
  }
  return HostPort{std::string(entry.substr(0, colon)),
                  std::string(entry.substr(colon + 1))};
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buffer[16];
  return ::inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// One "ADDRESS:PORT" in the form gRPC's ipv4:/ipv6: schemes take.
absl::StatusOr<std::pair<int, std::string>> Resolve(const HostPort& hp) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int error =
          ::getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &found);
      error != 0) {
    return WithExitCode(
        absl::UnavailableError(absl::StrCat("cannot resolve '", hp.host,
                                            "': ", ::gai_strerror(error))),
        ExitCode::kServer);
  }
  char text[INET6_ADDRSTRLEN] = {};
  const int family = found->ai_family;
  const void* address =
      family == AF_INET
          ? static_cast<const void*>(
                &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr)
          : static_cast<const void*>(
                &reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr);
  ::inet_ntop(family, address, text, sizeof(text));
  ::freeaddrinfo(found);
  return std::make_pair(family, family == AF_INET
                                    ? absl::StrCat(text, ":", hp.port)
                                    : absl::StrCat("[", text, "]:", hp.port));
}

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    return WithExitCode(absl::InvalidArgumentError(absl::StrCat(
                            flag, " ", path, ": cannot read the file")),
                        ExitCode::kUsage);
  }
  return text.str();
}

}  // namespace

absl::StatusOr<ServerTarget> ParseServerTarget(const std::string& server) {
  ServerTarget target;
  for (absl::string_view scheme : {"ipv4:", "ipv6:", "unix:"}) {
    if (absl::StartsWith(server, scheme)) {
      target.uri = server;
      target.addresses = static_cast<int>(
          std::vector<absl::string_view>(absl::StrSplit(server, ',')).size());
      return target;
    }
  }
  if (absl::StartsWith(server, "dns:")) {
    target.uri = server;
    target.is_dns_name = true;
    const size_t slash = server.rfind('/');
    absl::StatusOr<HostPort> hp =
        SplitHostPort(slash == std::string::npos ? server.substr(4)
                                                 : server.substr(slash + 1));
    if (hp.ok()) target.tls_name = hp->host;
    return target;
  }

  const std::vector<std::string> entries =
      absl::StrSplit(server, ',', absl::SkipEmpty());
  if (entries.empty()) return BadServer(server, "no address");
  std::vector<HostPort> hosts;
  for (const std::string& entry : entries) {
    absl::StatusOr<HostPort> hp = SplitHostPort(entry);
    if (!hp.ok()) return BadServer(server, hp.status().message());
    hosts.push_back(*std::move(hp));
  }
  if (!IsIpLiteral(hosts[0].host)) target.tls_name = hosts[0].host;
  target.addresses = static_cast<int>(hosts.size());
  if (hosts.size() == 1) {
    target.uri = server;
    target.is_dns_name = !IsIpLiteral(hosts[0].host);
    return target;
  }
  std::vector<std::string> addresses;
  int family = 0;
  for (const HostPort& hp : hosts) {
    absl::StatusOr<std::pair<int, std::string>> resolved = Resolve(hp);
    if (!resolved.ok()) return resolved.status();
    if (family != 0 && family != resolved->first) {
      return BadServer(server, "mixes IPv4 and IPv6 addresses");
    }
    family = resolved->first;
    addresses.push_back(resolved->second);
  }
  target.uri = absl::StrCat(family == AF_INET ? "ipv4:" : "ipv6:",
                            absl::StrJoin(addresses, ","));
  return target;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const ServerTarget& target, const TlsFiles& tls) {
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  args.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (tls.enabled()) {
    grpc::SslCredentialsOptions ssl;
    for (auto [path, field, flag] :
         {std::tuple{&tls.ca, &ssl.pem_root_certs, "--tls_ca"},
          std::tuple{&tls.cert, &ssl.pem_cert_chain, "--tls_cert"},
          std::tuple{&tls.key, &ssl.pem_private_key, "--tls_key"}}) {
      if (path->empty()) continue;
      absl::StatusOr<std::string> pem = ReadFile(*path, flag);
      if (!pem.ok()) return pem.status();
      *field = *std::move(pem);
    }
    credentials = grpc::SslCredentials(ssl);
    if (!target.tls_name.empty()) {
      args.SetSslTargetNameOverride(target.tls_name);
    }
  }
  return grpc::CreateCustomChannel(target.uri, credentials, args);
}

std::unique_ptr<ModelStream> OpenModelStream(grpc::Channel& channel,
                                             grpc::ClientContext& context) {
  static const std::string* const kMethod = new std::string(absl::StrCat(
      "/", v1::QuantizationService::service_full_name(), "/QuantizeModel"));
  const grpc::internal::RpcMethod method(
      kMethod->c_str(), grpc::internal::RpcMethod::BIDI_STREAMING);
  return std::unique_ptr<ModelStream>(
      grpc::internal::ClientReaderWriterFactory<
          grpc::ByteBuffer, v1::QuantizeModelResponse>::Create(&channel, method,
                                                               &context));
}

grpc::ByteBuffer LayerChunkRequest(uint64_t layer_id,
                                   absl::Span<const uint8_t> data) {
  // QuantizeModelRequest{layer_chunk (3): LayerChunk{layer_id (1),
  // data (2)}}: every byte before `data`, then `data` itself.
  std::string chunk_head;
  wire::AppendVarintField(1, layer_id, chunk_head);
  if (!data.empty())
    wire::AppendLengthDelimitedHead(2, data.size(), chunk_head);
  std::string head;
  wire::AppendLengthDelimitedHead(3, chunk_head.size() + data.size(), head);
  head += chunk_head;
  grpc::Slice slices[] = {
      grpc::Slice(head),
      grpc::Slice(data.data(), data.size(), grpc::Slice::STATIC_SLICE)};
  return grpc::ByteBuffer(slices, data.empty() ? 1 : 2);
}

}  // namespace squant::cli
