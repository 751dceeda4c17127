// squant-server as a process: the startup line, SIGTERM draining.

#include <signal.h>

#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/test_util.h"

namespace squant::server::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

HealthCheckResponse::ServingStatus CheckHealth(int port) {
  auto health = Health::NewStub(MakeChannel(port));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  HealthCheckRequest request;
  request.set_service("squant.v1.QuantizationService");
  HealthCheckResponse response;
  if (!health->Check(&context, request, &response).ok()) {
    return HealthCheckResponse::UNKNOWN;
  }
  return response.status();
}

v1::ModelOptions Options() {
  v1::ModelOptions options;
  options.set_model_name("drain-test");
  return options;
}

TEST(ServerProcessTest, PrintsListeningLineWithBoundPorts) {
  ServerProcess server({"--workers=1"});
  ASSERT_TRUE(server.WaitUntilListening()) << server.Log();
  EXPECT_GT(server.port(), 0);
  EXPECT_GT(server.metrics_port(), 0);
  EXPECT_NE(server.Log().find("\"tls\":\"plaintext\""), std::string::npos);
  EXPECT_EQ(CheckHealth(server.port()), HealthCheckResponse::SERVING);
  EXPECT_NE(ScrapeMetrics(server.metrics_port()).find("squant_workers 1"),
            std::string::npos);
  server.Signal(SIGINT);
  EXPECT_EQ(server.WaitForExit(absl::Seconds(20)), 0);
}

TEST(ServerProcessTest, SigtermDrainsRunningStreamsAndRefusesNewOnes) {
  ServerProcess server({"--workers=1", "--shutdown_grace=30s"});
  ASSERT_TRUE(server.WaitUntilListening()) << server.Log();
  auto stub = MakeStub(server.port());
  const LayerToSend first = RandomLayer(1, {64, 64, 3, 3}, 1);
  const LayerToSend second = RandomLayer(2, {32, 16}, 2);
  ModelSession running(*stub);
  ASSERT_TRUE(running.SendOptions(Options()));
  ASSERT_TRUE(running.SendLayer(first));
  ASSERT_TRUE(WaitFor([&] { return running.LayersReceived() == 1; }));

  server.Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] {
    return CheckHealth(server.port()) == HealthCheckResponse::NOT_SERVING;
  }));
  ModelSession refused(*stub);
  const ModelOutcome refusal = refused.Finish();
  EXPECT_EQ(refusal.status.error_code(), grpc::StatusCode::UNAVAILABLE);

  // The running stream still completes.
  ASSERT_TRUE(running.SendLayer(second));
  const ModelOutcome outcome = running.Finish();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.layers.size(), 2u);
  EXPECT_EQ(server.WaitForExit(absl::Seconds(20)), 0) << server.Log();
  EXPECT_NE(server.Log().find("\"event\":\"stopped\""), std::string::npos);
}

TEST(ServerProcessTest, StreamsPastTheGraceAreCancelled) {
  ServerProcess server({"--workers=1", "--shutdown_grace=300ms"});
  ASSERT_TRUE(server.WaitUntilListening()) << server.Log();
  auto stub = MakeStub(server.port());
  ModelSession stalled(*stub);
  ASSERT_TRUE(stalled.SendOptions(Options()));
  ASSERT_TRUE(WaitFor([&] {
    return ScrapeMetrics(server.metrics_port())
               .find("squant_streams_in_flight 1") != std::string::npos;
  }));
  server.Signal(SIGTERM);
  EXPECT_EQ(server.WaitForExit(absl::Seconds(20)), 0) << server.Log();
  const ModelOutcome outcome = stalled.Finish();
  EXPECT_FALSE(outcome.status.ok());
}

}  // namespace
}  // namespace squant::server::testing
