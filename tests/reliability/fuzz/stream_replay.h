// Runs a fuzzed QuantizeModel script against a real server and checks the
// invariants: the outcome the contract allows (stream_oracle.h), and a
// server that returns to holding no buffered bytes and no open stream.
// Shared by the libFuzzer target and the GoogleTest replay of the corpus.

#ifndef SQUANT_TESTS_RELIABILITY_FUZZ_STREAM_REPLAY_H_
#define SQUANT_TESTS_RELIABILITY_FUZZ_STREAM_REPLAY_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "server/server.h"
#include "server/server_config.h"
#include "squant/v1/quantization.grpc.pb.h"
#include "tests/reliability/fuzz/fuzz_sequence.h"

namespace squant::reliability {

// Small limits, so that huge layers are refused cheaply, and a small chunk
// size, so that results span several LayerValues messages.
server::ServerConfig FuzzServerConfig();

class ScriptRunner {
 public:
  // Starts an in-process server with FuzzServerConfig().
  static absl::StatusOr<std::unique_ptr<ScriptRunner>> Start();

  // Sends `script` on a new stream, drains the responses (bounded by a
  // deadline) and checks everything. Empty when all holds, else what broke.
  std::string Run(const Script& script);

 private:
  explicit ScriptRunner(std::unique_ptr<server::SquantServer> server);

  std::unique_ptr<server::SquantServer> server_;
  std::unique_ptr<v1::QuantizationService::Stub> stub_;
};

}  // namespace squant::reliability

#endif  // SQUANT_TESTS_RELIABILITY_FUZZ_STREAM_REPLAY_H_
