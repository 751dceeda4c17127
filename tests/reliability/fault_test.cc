// Faults with the real binaries on loopback: stalled clients, a client
// process killed mid-stream, SIGTERM under load (with squant-cli resuming on
// another server), more streams than allowed, a layer over the limit. Each
// case ends within its own deadlines, well under a minute.

#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cli/child_process.h"
#include "tests/cli/test_models.h"
#include "tests/reliability/reliability_util.h"
#include "tests/server/test_util.h"

namespace squant::reliability {
namespace {

using server::testing::LayerToSend;
using server::testing::ModelOutcome;
using server::testing::ModelSession;
using server::testing::RandomLayer;
using server::testing::ServerProcess;
using server::testing::WaitFor;
using ::testing::AnyOf;
using ::testing::Each;
using ::testing::HasSubstr;

std::string Address(const ServerProcess& server) {
  return absl::StrCat("127.0.0.1:", server.port());
}

// A client that announces layers and then sends nothing more is ended by
// --stream_idle_timeout, and what it sent is freed.
TEST(FaultTest, StalledClientsAreTimedOutAndFreed) {
  ServerProcess server({"--stream_idle_timeout=1s"});
  ASSERT_TRUE(server.WaitUntilListening());
  auto stub = server::testing::MakeStub(server.port());
  const LayerToSend layer = RandomLayer(1, {64, 64, 3, 3}, 7);
  const int64_t half = static_cast<int64_t>(layer.bytes.size()) / 2;
  ModelSession header_only(*stub), half_sent(*stub);
  ASSERT_TRUE(header_only.SendOptions({}));
  ASSERT_TRUE(header_only.SendHeader(layer));
  ASSERT_TRUE(half_sent.SendOptions({}));
  ASSERT_TRUE(half_sent.SendHeader(layer));
  ASSERT_TRUE(half_sent.SendBytes(layer.id, layer.bytes.data(), half));
  EXPECT_TRUE(WaitFor([&] {
    return Metric(server, "squant_buffered_bytes") == half;
  })) << "the stalled layer's bytes should be held until the timeout";

  for (ModelSession* session : {&header_only, &half_sent}) {
    const ModelOutcome outcome = session->AwaitEnd();
    EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_THAT(outcome.status.error_message(), HasSubstr(layer.name));
  }
  EXPECT_TRUE(AwaitIdle(server));
  EXPECT_EQ(Metric(server, "squant_errors_total{reason=\"idle_timeout\"}"), 2);
  ExpectServesCorrectly(server.port());
}

// SIGKILL of a client process in the middle of its streams: the server
// notices, frees their bytes and keeps serving.
TEST(FaultTest, KilledClientProcessIsCleanedUp) {
  ServerProcess server({});
  ASSERT_TRUE(server.WaitUntilListening());
  absl::StatusOr<squant::testing::ChildProcess> client =
      squant::testing::ChildProcess::Start(
          {SQUANT_LOADGEN_PATH, "--server=" + Address(server), "--streams=2",
           "--mix=resnet18", "--duration=60s", "--chunk_bytes=262144"},
          squant::testing::TempPath("killed_loadgen"));
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        return Metric(server, "squant_streams_in_flight") == 2 &&
               Metric(server, "squant_received_bytes_total") > 0;
      },
      absl::Seconds(30)))
      << "the load generator never got going";
  client->Signal(SIGKILL);
  ASSERT_TRUE(client->Wait(absl::Seconds(10)).ok());

  EXPECT_TRUE(AwaitIdle(server));
  EXPECT_GE(Metric(server, "squant_errors_total{reason=\"cancelled\"}"), 1);
  ExpectServesCorrectly(server.port());
}

// SIGTERM while streams run: a stream that completes within the grace ends
// OK, one still stalled at its end fails UNAVAILABLE (retryable), new
// streams get UNAVAILABLE, and the process exits 0.
TEST(FaultTest, SigtermDrainsRunningStreams) {
  ServerProcess server({"--shutdown_grace=3s"});
  ASSERT_TRUE(server.WaitUntilListening());
  auto stub = server::testing::MakeStub(server.port());
  const LayerToSend layer = RandomLayer(1, {64, 32, 3, 3}, 5);
  ModelSession finishing(*stub), stalled(*stub);
  ASSERT_TRUE(finishing.SendOptions({}));
  ASSERT_TRUE(finishing.SendHeader(layer));
  ASSERT_TRUE(stalled.SendOptions({}));
  ASSERT_TRUE(stalled.SendHeader(layer));
  ASSERT_TRUE(
      WaitFor([&] { return Metric(server, "squant_streams_in_flight") == 2; }));

  server.Signal(SIGTERM);
  ASSERT_TRUE(WaitFor(
      [&] { return server.Log().find("\"draining\"") != std::string::npos; }));
  {
    ModelSession late(*stub);
    late.SendOptions({});
    EXPECT_EQ(late.Finish().status.error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  ASSERT_TRUE(
      finishing.SendBytes(layer.id, layer.bytes.data(), layer.bytes.size()));
  const ModelOutcome finished = finishing.Finish();
  EXPECT_TRUE(finished.status.ok()) << finished.status.error_message();
  EXPECT_EQ(finished.layers.size(), 1u);
  const ModelOutcome cut = stalled.AwaitEnd();
  EXPECT_EQ(cut.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << cut.status.error_message();
  EXPECT_EQ(server.WaitForExit(absl::Seconds(20)), 0);
}

// The headline fault: squant-cli spreading a model over two servers, one
// SIGTERMed mid-run. Its streams end OK or UNAVAILABLE, the CLI finishes
// the rest on the other server, and the file is byte-identical to an
// undisturbed run.
TEST(FaultTest, CliFinishesOnTheOtherServerAfterSigterm) {
  ServerProcess doomed({"--shutdown_grace=5s"});
  ServerProcess survivor({});
  ASSERT_TRUE(doomed.WaitUntilListening());
  ASSERT_TRUE(survivor.WaitUntilListening());
  std::vector<squant::testing::TensorData> tensors;
  for (int i = 0; i < 40; ++i) {
    tensors.push_back(squant::testing::RandomTensor(
        absl::StrCat("layer", i, ".weight"), i % 3 == 0 ? "F16" : "F32",
        {256, 128, 3, 3}, 100 + i));
  }
  const std::string input = squant::testing::TempPath("sigterm_in.safetensors");
  ASSERT_TRUE(squant::testing::WriteModel(input, tensors).ok());
  auto quantize = [&](const std::string& output) {
    return std::vector<std::string>{
        SQUANT_CLI_PATH, "quantize",
        "--server",      Address(doomed) + "," + Address(survivor),
        "--input",       input,
        "--output",      output,
        "--json"};
  };
  const std::string reference =
      squant::testing::TempPath("sigterm_reference.safetensors");
  const squant::testing::RunResult undisturbed =
      squant::testing::Run(quantize(reference), absl::Seconds(50));
  ASSERT_EQ(undisturbed.exit_code, 0) << undisturbed.err;

  const std::string output =
      squant::testing::TempPath("sigterm_out.safetensors");
  const double layers_before = MetricSum(doomed, "squant_layers_total");
  const double survivor_before = MetricSum(survivor, "squant_layers_total");
  absl::StatusOr<squant::testing::ChildProcess> cli =
      squant::testing::ChildProcess::Start(
          quantize(output), squant::testing::TempPath("sigterm_cli"));
  ASSERT_TRUE(cli.ok()) << cli.status();
  ASSERT_TRUE(WaitFor(
      [&] {
        return MetricSum(doomed, "squant_layers_total") > layers_before &&
               Metric(doomed, "squant_streams_in_flight") > 0;
      },
      absl::Seconds(30)))
      << "the CLI never used the server to be stopped";
  ASSERT_TRUE(cli->Running()) << "the run ended before the fault";
  doomed.Signal(SIGTERM);

  const absl::StatusOr<int> exit_code = cli->Wait(absl::Seconds(50));
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0) << cli->Stderr();
  EXPECT_EQ(squant::testing::ReadWholeFile(output),
            squant::testing::ReadWholeFile(reference));
  EXPECT_GT(MetricSum(survivor, "squant_layers_total"), survivor_before);
  EXPECT_EQ(doomed.WaitForExit(absl::Seconds(20)), 0);
  EXPECT_THAT(StreamEndCodes(doomed.Log()), Each(AnyOf("OK", "Unavailable")));
}

// More concurrent streams than --max_concurrent_streams: the extra one gets
// RESOURCE_EXHAUSTED, the admitted ones finish with correct results.
TEST(FaultTest, StreamsOverTheLimitAreRefused) {
  ServerProcess server({"--max_concurrent_streams=2"});
  ASSERT_TRUE(server.WaitUntilListening());
  auto stub = server::testing::MakeStub(server.port());
  const LayerToSend layer = RandomLayer(1, {48, 16, 3, 3}, 9);
  const int64_t half = static_cast<int64_t>(layer.bytes.size()) / 2;
  ModelSession first(*stub), second(*stub);
  for (ModelSession* session : {&first, &second}) {
    ASSERT_TRUE(session->SendOptions({}));
    ASSERT_TRUE(session->SendHeader(layer));
    ASSERT_TRUE(session->SendBytes(layer.id, layer.bytes.data(), half));
  }
  ASSERT_TRUE(
      WaitFor([&] { return Metric(server, "squant_streams_in_flight") == 2; }));
  {
    ModelSession extra(*stub);
    extra.SendOptions({});
    const ModelOutcome refused = extra.Finish();
    EXPECT_EQ(refused.status.error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  const QuantizedLayer core =
      server::testing::CoreQuantize(layer, QuantOptions());
  for (ModelSession* session : {&first, &second}) {
    ASSERT_TRUE(session->SendBytes(layer.id, layer.bytes.data() + half,
                                   layer.bytes.size() - half));
    const ModelOutcome outcome = session->Finish();
    ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    ASSERT_EQ(outcome.layers.size(), 1u);
    EXPECT_TRUE(SameValues(outcome.layers[0].values, core.values));
  }
  EXPECT_TRUE(AwaitIdle(server));
  ExpectServesCorrectly(server.port());
}

// A layer over --max_layer_bytes: RESOURCE_EXHAUSTED naming it, before any
// byte is held; a concurrent stream is undisturbed; squant-cli reports the
// tensor with its input-error exit code.
TEST(FaultTest, LayerOverTheLimitIsRefused) {
  ServerProcess server({"--max_layer_bytes=1048576"});
  ASSERT_TRUE(server.WaitUntilListening());
  auto stub = server::testing::MakeStub(server.port());
  ModelSession healthy(*stub);
  ASSERT_TRUE(healthy.SendOptions({}));
  LayerToSend big = RandomLayer(1, {512, 1024}, 3);  // 2 MiB of F32
  big.name = "huge.weight";
  ModelSession oversized(*stub);
  ASSERT_TRUE(oversized.SendOptions({}));
  ASSERT_TRUE(oversized.SendHeader(big));
  const ModelOutcome refused = oversized.AwaitEnd();
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("huge.weight"));

  const LayerToSend small = RandomLayer(2, {16, 8, 3, 3}, 4);
  ASSERT_TRUE(healthy.SendLayer(small));
  const ModelOutcome outcome = healthy.Finish();
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.layers.size(), 1u);

  const std::string input = squant::testing::TempPath("too_big.safetensors");
  ASSERT_TRUE(
      squant::testing::WriteModel(
          input,
          {squant::testing::RandomTensor("ok.weight", "F32", {8, 8}, 1),
           squant::testing::RandomTensor("huge.weight", "F32", {512, 1024}, 2)})
          .ok());
  const squant::testing::RunResult cli = squant::testing::Run(
      {SQUANT_CLI_PATH, "quantize", "--server", Address(server), "--input",
       input, "--output", squant::testing::TempPath("too_big.q.safetensors")},
      absl::Seconds(30));
  EXPECT_EQ(cli.exit_code, 2) << cli.err;
  EXPECT_THAT(cli.err, HasSubstr("huge.weight"));
  EXPECT_TRUE(AwaitIdle(server));
}

}  // namespace
}  // namespace squant::reliability
