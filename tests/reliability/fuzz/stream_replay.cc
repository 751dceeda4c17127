#include "tests/reliability/fuzz/stream_replay.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "tests/reliability/fuzz/stream_oracle.h"
#include "tests/server/test_util.h"

namespace squant::reliability {
namespace {

// Far above any script's run time even under sanitizers: reaching it means
// the server hung.
constexpr absl::Duration kStreamDeadline = absl::Seconds(30);
constexpr absl::Duration kSettleTimeout = absl::Seconds(10);

}  // namespace

server::ServerConfig FuzzServerConfig() {
  server::ServerConfig config = server::testing::TestConfig();
  config.max_layer_bytes = 256 << 10;
  config.max_layer_channels = 512;
  config.max_unary_layer_bytes = 64 << 10;
  config.stream_buffer_bytes = 64 << 10;
  config.global_buffer_bytes = 256 << 10;
  config.chunk_bytes = 4 << 10;
  config.max_concurrent_streams = 4;
  config.stream_idle_timeout = absl::Seconds(20);
  return config;
}

absl::StatusOr<std::unique_ptr<ScriptRunner>> ScriptRunner::Start() {
  absl::StatusOr<std::unique_ptr<server::SquantServer>> server =
      server::SquantServer::Start(FuzzServerConfig());
  if (!server.ok()) return server.status();
  return std::unique_ptr<ScriptRunner>(new ScriptRunner(*std::move(server)));
}

ScriptRunner::ScriptRunner(std::unique_ptr<server::SquantServer> server)
    : server_(std::move(server)),
      stub_(server::testing::MakeStub(server_->port())) {}

std::string ScriptRunner::Run(const Script& script) {
  const server::ServerConfig& config = server_->config();
  const Expectation expected =
      Predict(script, {config.max_layer_bytes, config.max_layer_channels});
  server::testing::ModelOutcome outcome;
  {
    server::testing::ModelSession session(*stub_, kStreamDeadline);
    for (const v1::QuantizeModelRequest& request : script.requests) {
      if (!session.Send(request)) break;  // the server ended the stream
    }
    if (script.end == StreamEnd::kCancel) {
      session.Cancel();
      outcome = session.AwaitEnd();
    } else {
      outcome = session.Finish();
    }
  }
  if (std::string error = CheckOutcome(expected, outcome); !error.empty()) {
    return error;
  }
  // Queued layers of a failed stream finish (skipped) after its end.
  const bool settled = server::testing::WaitFor(
      [&] {
        return server_->buffered_bytes() == 0 && server_->open_streams() == 0;
      },
      kSettleTimeout);
  if (!settled) {
    return absl::StrCat("after the stream: ", server_->buffered_bytes(),
                        " bytes still buffered, ", server_->open_streams(),
                        " streams open");
  }
  return "";
}

}  // namespace squant::reliability
