// --max_connection_age and --max_connection_age_grace: an old connection
// is sent GOAWAY (the client reconnects for its next call), calls running
// on it get the grace, and a call still running after the grace is ended.

#include <memory>

#include "gtest/gtest.h"
#include "tests/server/test_util.h"

namespace squant::server::testing {
namespace {

// gRPC adds up to 10% jitter to the age.
constexpr absl::Duration kAge = absl::Seconds(1);

bool GetCapabilities(v1::QuantizationService::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::GetCapabilitiesResponse capabilities;
  return stub
      .GetCapabilities(&context, v1::GetCapabilitiesRequest(), &capabilities)
      .ok();
}

ServerConfig AgedConfig(absl::Duration grace) {
  ServerConfig config = TestConfig();
  config.max_connection_age = kAge;
  config.max_connection_age_grace = grace;
  return config;
}

TEST(ConnectionAgeTest, AnIdleConnectionIsClosedAndTheNextCallReconnects) {
  std::unique_ptr<SquantServer> server =
      StartServer(AgedConfig(absl::Seconds(1)));
  ASSERT_NE(server, nullptr);
  std::shared_ptr<grpc::Channel> channel = MakeChannel(server->port());
  auto stub = v1::QuantizationService::NewStub(channel);
  ASSERT_TRUE(GetCapabilities(*stub));
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);

  // Without the age the connection would stay READY indefinitely.
  EXPECT_TRUE(channel->WaitForStateChange(
      GRPC_CHANNEL_READY, absl::ToChronoTime(absl::Now() + 10 * kAge)));
  EXPECT_NE(channel->GetState(false), GRPC_CHANNEL_READY);

  EXPECT_TRUE(GetCapabilities(*stub));
  EXPECT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
}

TEST(ConnectionAgeTest, AStreamRunningPastTheAgeFinishesWithinTheGrace) {
  std::unique_ptr<SquantServer> server =
      StartServer(AgedConfig(absl::Seconds(20)));
  ASSERT_NE(server, nullptr);
  auto stub = MakeStub(server->port());
  ModelSession session(*stub, absl::Seconds(30));
  ASSERT_TRUE(session.SendOptions(v1::ModelOptions()));
  absl::SleepFor(2 * kAge);  // the GOAWAY has gone out meanwhile
  const LayerToSend layer = RandomLayer(0, {16, 8, 3, 3}, 5);
  ASSERT_TRUE(session.SendLayer(layer));
  const ModelOutcome outcome = session.Finish();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.layers.size(), 1u);
  EXPECT_TRUE(outcome.summary.has_value());
}

TEST(ConnectionAgeTest, AStreamStillOpenAfterAgeAndGraceIsEnded) {
  std::unique_ptr<SquantServer> server =
      StartServer(AgedConfig(absl::Seconds(1)));
  ASSERT_NE(server, nullptr);
  auto stub = MakeStub(server->port());
  const absl::Time start = absl::Now();
  ModelSession session(*stub, absl::Seconds(30));
  ASSERT_TRUE(session.SendOptions(v1::ModelOptions()));
  const ModelOutcome outcome = session.AwaitEnd();  // never half-closes
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << outcome.status.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  // The server let go of the stream.
  EXPECT_TRUE(WaitFor([&] { return server->open_streams() == 0; }));
}

}  // namespace
}  // namespace squant::server::testing
