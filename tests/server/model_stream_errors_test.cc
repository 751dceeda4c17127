// Every QuantizeModel error: the right code, a message naming the layer and
// the problem, and no effect on a healthy stream running at the same time.

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server/test_util.h"

namespace squant::server::testing {
namespace {

v1::ModelOptions Options4Bits() {
  v1::ModelOptions options;
  options.mutable_defaults()->set_bits(4);
  return options;
}

struct ErrorCase {
  std::string name;
  // Sends the offending messages; the helper half-closes afterwards.
  std::function<void(ModelSession&)> drive;
  grpc::StatusCode code;
  std::string message_part;
  std::string reason;  // squant_errors_total label
};

std::vector<ErrorCase> ErrorCases() {
  const LayerToSend small = RandomLayer(3, {4, 2, 3, 3}, 5);
  auto with = [small](std::function<void(LayerToSend&)> edit) {
    LayerToSend layer = small;
    edit(layer);
    return layer;
  };
  std::vector<ErrorCase> cases;
  cases.push_back({"HeaderBeforeOptions",
                   [=](ModelSession& s) { s.SendHeader(small); },
                   grpc::StatusCode::INVALID_ARGUMENT,
                   "layer 3 \"layer3.weight\": announced before ModelOptions",
                   "invalid_options"});
  cases.push_back({"OptionsTwice",
                   [](ModelSession& s) {
                     s.SendOptions(Options4Bits());
                     s.SendOptions(Options4Bits());
                   },
                   grpc::StatusCode::INVALID_ARGUMENT,
                   "ModelOptions sent twice", "invalid_options"});
  cases.push_back({"BitsOutOfRange",
                   [](ModelSession& s) {
                     v1::ModelOptions options;
                     options.mutable_defaults()->set_bits(9);
                     s.SendOptions(options);
                   },
                   grpc::StatusCode::INVALID_ARGUMENT,
                   "bits 9 out of range [2, 8]", "invalid_options"});
  cases.push_back({"PackWithEightBits",
                   [=](ModelSession& s) {
                     s.SendOptions(Options4Bits());
                     LayerToSend layer = small;
                     layer.overrides.set_bits(8);
                     layer.overrides.set_pack(true);
                     s.SendHeader(layer);
                   },
                   grpc::StatusCode::INVALID_ARGUMENT,
                   "layer 3 \"layer3.weight\": pack needs bits <= 4, got 8",
                   "invalid_options"});
  cases.push_back({"UnknownMode",
                   [](ModelSession& s) {
                     v1::ModelOptions options;
                     options.mutable_defaults()->set_mode(
                         static_cast<v1::Mode>(17));
                     s.SendOptions(options);
                   },
                   grpc::StatusCode::INVALID_ARGUMENT, "unknown mode 17",
                   "invalid_options"});
  cases.push_back({"RankOne",
                   [=](ModelSession& s) {
                     s.SendOptions(Options4Bits());
                     s.SendHeader(with([](LayerToSend& l) { l.shape = {72}; }));
                   },
                   grpc::StatusCode::INVALID_ARGUMENT,
                   "layer 3 \"layer3.weight\": shape [72] has rank 1",
                   "invalid_shape"});
  cases.push_back(
      {"EmptyDimension",
       [=](ModelSession& s) {
         s.SendOptions(Options4Bits());
         s.SendHeader(with([](LayerToSend& l) { l.shape = {4, 0, 3}; }));
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "shape [4, 0, 3] has dimension 1 = 0", "invalid_shape"});
  cases.push_back(
      {"MissingDtype",
       [=](ModelSession& s) {
         s.SendOptions(Options4Bits());
         s.SendHeader(
             with([](LayerToSend& l) { l.dtype = v1::DTYPE_UNSPECIFIED; }));
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "layer 3 \"layer3.weight\": dtype DTYPE_UNSPECIFIED", "invalid_shape"});
  cases.push_back({"TooManyBytes",
                   [=](ModelSession& s) {
                     s.SendOptions(Options4Bits());
                     s.SendHeader(small);
                     std::vector<uint8_t> bytes = small.bytes;
                     bytes.resize(bytes.size() + 4);
                     s.SendBytes(3, bytes.data(), bytes.size());
                   },
                   grpc::StatusCode::INVALID_ARGUMENT,
                   "layer 3 \"layer3.weight\": got 292 bytes; shape [4, 2, 3, "
                   "3] of F32 needs 288",
                   "byte_count"});
  cases.push_back({"NaNWeight",
                   [=](ModelSession& s) {
                     s.SendOptions(Options4Bits());
                     LayerToSend layer = small;
                     const float nan = std::numeric_limits<float>::quiet_NaN();
                     std::memcpy(layer.bytes.data() + 4 * 40, &nan, 4);
                     s.SendLayer(layer);
                   },
                   grpc::StatusCode::INVALID_ARGUMENT,
                   "layer 3 \"layer3.weight\": element 40", "non_finite"});
  cases.push_back({"ChunkForUnknownLayer",
                   [=](ModelSession& s) {
                     s.SendOptions(Options4Bits());
                     s.SendBytes(42, small.bytes.data(), 8);
                   },
                   grpc::StatusCode::INVALID_ARGUMENT,
                   "layer 42: chunk for a layer never announced",
                   "unknown_layer"});
  cases.push_back({"ChunkForCompleteLayer",
                   [=](ModelSession& s) {
                     s.SendOptions(Options4Bits());
                     s.SendLayer(small);
                     s.SendBytes(3, small.bytes.data(), 8);
                   },
                   grpc::StatusCode::INVALID_ARGUMENT,
                   "layer 3: chunk for a layer whose bytes are all received",
                   "unknown_layer"});
  cases.push_back({"DuplicateLayerId",
                   [=](ModelSession& s) {
                     s.SendOptions(Options4Bits());
                     s.SendLayer(small);
                     s.SendHeader(small);
                   },
                   grpc::StatusCode::INVALID_ARGUMENT,
                   "layer 3 \"layer3.weight\": layer id 3 was already "
                   "announced",
                   "duplicate_layer"});
  cases.push_back({"HalfCloseWithIncompleteLayer",
                   [=](ModelSession& s) {
                     s.SendOptions(Options4Bits());
                     s.SendHeader(small);
                     s.SendBytes(3, small.bytes.data(), 100);
                   },
                   grpc::StatusCode::INVALID_ARGUMENT,
                   "layer 3 \"layer3.weight\": the client half-closed after "
                   "100 of its 288 bytes",
                   "incomplete_layer"});
  cases.push_back(
      {"LayerOverMaxBytes",
       [=](ModelSession& s) {
         s.SendOptions(Options4Bits());
         s.SendHeader(with([](LayerToSend& l) { l.shape = {1024, 1024, 16}; }));
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED,
       "layer 3 \"layer3.weight\": shape [1024, 1024, 16] of F32 "
       "exceeds 33554432 bytes",
       "layer_too_large"});
  cases.push_back(
      {"LayerOverMaxChannels",
       [=](ModelSession& s) {
         s.SendOptions(Options4Bits());
         s.SendHeader(with([](LayerToSend& l) { l.shape = {5000, 1}; }));
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED,
       "has 5000 output channels; the server's limit is 4096",
       "layer_too_large"});
  return cases;
}

class ModelStreamErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerConfig config = TestConfig();
    config.max_layer_bytes = 32 << 20;
    config.max_layer_channels = 4096;
    server_ = StartServer(config);
    ASSERT_NE(server_, nullptr);
    stub_ = MakeStub(server_->port());
  }
  std::unique_ptr<SquantServer> server_;
  std::unique_ptr<v1::QuantizationService::Stub> stub_;
};

TEST_F(ModelStreamErrorsTest, EachErrorHasItsCodeAndMessageAndSparesOthers) {
  // The healthy stream sends half of its layers, waits through every error
  // case, then the rest.
  std::vector<LayerToSend> healthy_layers;
  for (int l = 0; l < 6; ++l) {
    healthy_layers.push_back(RandomLayer(l, {64, 32, 3, 3}, 900 + l));
  }
  ModelSession healthy(*stub_);
  ASSERT_TRUE(healthy.SendOptions(Options4Bits()));
  for (int l = 0; l < 3; ++l) ASSERT_TRUE(healthy.SendLayer(healthy_layers[l]));
  ASSERT_TRUE(WaitFor([&] { return healthy.LayersReceived() == 3; }));

  for (const ErrorCase& error : ErrorCases()) {
    SCOPED_TRACE(error.name);
    const std::string series =
        "squant_errors_total{reason=\"" + error.reason + "\"}";
    const double errors_before =
        MetricValue(ScrapeMetrics(server_->metrics_port()), series)
            .value_or(-1);
    ModelSession session(*stub_);
    error.drive(session);
    const ModelOutcome outcome = session.Finish();
    EXPECT_EQ(outcome.status.error_code(), error.code)
        << outcome.status.error_message();
    EXPECT_NE(outcome.status.error_message().find(error.message_part),
              std::string::npos)
        << "message: " << outcome.status.error_message();
    EXPECT_FALSE(outcome.summary.has_value());
    EXPECT_EQ(MetricValue(ScrapeMetrics(server_->metrics_port()), series),
              errors_before + 1);
  }

  for (int l = 3; l < 6; ++l) ASSERT_TRUE(healthy.SendLayer(healthy_layers[l]));
  const ModelOutcome outcome = healthy.Finish();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_EQ(outcome.layers.size(), 6u);
  for (const ReceivedLayer& got : outcome.layers) {
    const QuantizedLayer want =
        CoreQuantize(healthy_layers[got.result.layer_id()], QuantOptions{});
    EXPECT_EQ(
        std::memcmp(got.values.data(), want.values.data(), want.values.size()),
        0);
  }
  EXPECT_TRUE(WaitFor([&] { return server_->buffered_bytes() == 0; }));
}

TEST(ModelStreamLimitsTest, StreamsOverTheLimitGetResourceExhausted) {
  ServerConfig config = TestConfig();
  config.max_concurrent_streams = 2;
  std::unique_ptr<SquantServer> server = StartServer(config);
  auto stub = MakeStub(server->port());
  ModelSession first(*stub), second(*stub);
  ASSERT_TRUE(first.SendOptions(Options4Bits()));
  ASSERT_TRUE(second.SendOptions(Options4Bits()));
  ASSERT_TRUE(WaitFor([&] { return server->open_streams() == 2; }));
  ModelSession third(*stub);
  const ModelOutcome rejected = third.Finish();
  EXPECT_EQ(rejected.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(rejected.status.error_message().find("--max_concurrent_streams"),
            std::string::npos);
  // The open ones are unaffected.
  const LayerToSend layer = RandomLayer(1, {8, 8}, 1);
  ASSERT_TRUE(first.SendLayer(layer));
  const ModelOutcome outcome = first.Finish();
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.layers.size(), 1u);
}

}  // namespace
}  // namespace squant::server::testing
