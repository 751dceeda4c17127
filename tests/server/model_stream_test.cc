// QuantizeModel end to end: a real server on loopback, real gRPC clients.

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/test_util.h"

namespace squant::server::testing {
namespace {

v1::ModelOptions Options(int bits, v1::Mode mode = v1::MODE_SQUANT) {
  v1::ModelOptions options;
  options.set_model_name("test-model");
  options.mutable_defaults()->set_bits(bits);
  options.mutable_defaults()->set_mode(mode);
  return options;
}

// The server's answer for `layer` equals the core library's, bit for bit.
void ExpectMatchesCore(const LayerToSend& layer, const ReceivedLayer& got,
                       const QuantOptions& options, bool packed = false) {
  const QuantizedLayer want = CoreQuantize(layer, options);
  EXPECT_EQ(got.result.layer_id(), layer.id);
  EXPECT_EQ(got.result.name(), layer.name);
  EXPECT_EQ(std::vector<int64_t>(got.result.shape().begin(),
                                 got.result.shape().end()),
            layer.shape);
  EXPECT_EQ(got.result.bits(), static_cast<uint32_t>(options.bits));
  EXPECT_EQ(got.result.packed(), packed);
  ASSERT_EQ(got.result.scale_size(), want.geometry.channels);
  for (int64_t m = 0; m < want.geometry.channels; ++m) {
    EXPECT_EQ(std::memcmp(&got.result.scale().Get(m), &want.scale[m], 4), 0)
        << "scale of channel " << m;
    EXPECT_EQ(got.result.zero_point(m), want.zero_point[m]);
  }
  if (packed) {
    EXPECT_EQ(got.values, PackInt4(want.values, want.geometry));
  } else {
    ASSERT_EQ(got.values.size(), want.values.size());
    EXPECT_EQ(
        std::memcmp(got.values.data(), want.values.data(), want.values.size()),
        0);
  }
  EXPECT_EQ(got.result.stats().elements(),
            static_cast<uint64_t>(want.stats.elements));
  EXPECT_EQ(got.result.stats().kernel_flips(),
            static_cast<uint64_t>(want.stats.kernel_flips));
  EXPECT_EQ(got.result.stats().mse_squant(), want.stats.mse_squant);
}

class ModelStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(config_);
    ASSERT_NE(server_, nullptr);
    stub_ = MakeStub(server_->port());
  }
  ServerConfig config_ = TestConfig();
  std::unique_ptr<SquantServer> server_;
  std::unique_ptr<v1::QuantizationService::Stub> stub_;
};

TEST_F(ModelStreamTest, MultiLayerModelMatchesCoreBitForBit) {
  std::vector<LayerToSend> layers = {
      RandomLayer(1, {64, 3, 7, 7}, 1), RandomLayer(2, {64, 64, 3, 3}, 2),
      RandomLayer(3, {256, 64, 1, 1}, 3), RandomLayer(4, {10, 512}, 4),
      RandomLayer(5, {32, 1, 3, 3}, 5)};
  layers[2].overrides.set_bits(8);
  layers[3].overrides.set_mode(v1::MODE_SQUANT_E);
  layers[4].overrides.set_grid(v1::GRID_SYMMETRIC);
  // Small chunks that do not fall on channel boundaries.
  const ModelOutcome outcome =
      QuantizeModel(*stub_, Options(4), layers, /*chunk_bytes=*/10007);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.protocol_error, "");
  ASSERT_EQ(outcome.layers.size(), layers.size());
  for (const LayerToSend& layer : layers) {
    auto got = std::find_if(outcome.layers.begin(), outcome.layers.end(),
                            [&](const ReceivedLayer& r) {
                              return r.result.layer_id() == layer.id;
                            });
    ASSERT_NE(got, outcome.layers.end()) << layer.name;
    QuantOptions options;
    options.bits = layer.overrides.bits() != 0 ? layer.overrides.bits() : 4;
    if (layer.overrides.mode() == v1::MODE_SQUANT_E) {
      options.mode = Mode::kSquantE;
    }
    if (layer.overrides.grid() == v1::GRID_SYMMETRIC) {
      options.grid = Grid::kSymmetric;
    }
    SCOPED_TRACE(layer.name);
    ExpectMatchesCore(layer, *got, options);
  }
  ASSERT_TRUE(outcome.summary.has_value());
  EXPECT_EQ(outcome.summary->layers(), layers.size());
  int64_t bytes = 0, elements = 0;
  for (const LayerToSend& layer : layers) {
    bytes += layer.bytes.size();
    elements += Elements(layer.shape);
  }
  EXPECT_EQ(outcome.summary->bytes_received(), static_cast<uint64_t>(bytes));
  EXPECT_EQ(outcome.summary->elements(), static_cast<uint64_t>(elements));
  EXPECT_EQ(outcome.summary->bytes_sent(), static_cast<uint64_t>(elements));
}

TEST_F(ModelStreamTest, PackedOutputIsTheCorePackedLayout) {
  // Odd N*K: every packed row ends in a zero nibble.
  LayerToSend layer = RandomLayer(7, {16, 5, 3, 3}, 7);
  v1::ModelOptions options = Options(3);
  options.mutable_defaults()->set_pack(true);
  const ModelOutcome outcome = QuantizeModel(*stub_, options, {layer});
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_EQ(outcome.layers.size(), 1u);
  QuantOptions core;
  core.bits = 3;
  ExpectMatchesCore(layer, outcome.layers[0], core, /*packed=*/true);
  EXPECT_EQ(outcome.layers[0].result.values_bytes(), 16u * 23u);
}

TEST_F(ModelStreamTest, LayerOver64MiBArrivesInChunksAndMatchesCore) {
  if (kThreadSanitizer) {
    GTEST_SKIP() << "65 MiB is too big a load for TSan; the plain and ASan "
                    "runs cover it";
  }
  // 4096 x 4160 float32 = 65 MiB, sent in the default 4 MiB chunks; the
  // values come back in several LayerValues chunks too.
  const LayerToSend layer = RandomLayer(1, {4096, 4160}, 11);
  ASSERT_GT(layer.bytes.size(), size_t{64} << 20);
  const ModelOutcome outcome = QuantizeModel(*stub_, Options(4), {layer});
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.protocol_error, "");
  ASSERT_EQ(outcome.layers.size(), 1u);
  QuantOptions core;
  ExpectMatchesCore(layer, outcome.layers[0], core);
  EXPECT_EQ(server_->buffered_bytes(), 0);
}

TEST_F(ModelStreamTest, SmallLayerSentAfterBigOneComesBackFirst) {
  // The big layer must take longer to quantize than the small one takes to
  // arrive after it: 3x3 kernels cost the most per weight (a 16 MiB fc
  // layer, about 5 ms on 2 workers, lost that race once).
  const LayerToSend big = RandomLayer(1, {1024, 1024, 3, 3}, 21);  // 36 MiB
  const LayerToSend small = RandomLayer(2, {8, 8, 3, 3}, 22);
  const ModelOutcome outcome = QuantizeModel(*stub_, Options(4), {big, small});
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_EQ(outcome.layers.size(), 2u);
  EXPECT_EQ(outcome.layers[0].result.layer_id(), 2u);
  EXPECT_EQ(outcome.layers[1].result.layer_id(), 1u);
  EXPECT_GT(outcome.layers[1].result.stats().quantize_seconds(),
            outcome.layers[0].result.stats().quantize_seconds());
}

TEST_F(ModelStreamTest, EightConcurrentStreamsAllMatchCore) {
  constexpr int kStreams = 8;
  std::vector<ModelOutcome> outcomes(kStreams);
  std::vector<std::vector<LayerToSend>> models(kStreams);
  std::vector<std::thread> clients;
  for (int s = 0; s < kStreams; ++s) {
    for (int l = 0; l < 3; ++l) {
      models[s].push_back(RandomLayer(l, {32 + 16 * l, 16, 3, 3}, 100 * s + l));
    }
    clients.emplace_back([&, s] {
      outcomes[s] = QuantizeModel(*stub_, Options(2 + s % 6), models[s], 4096);
    });
  }
  for (std::thread& client : clients) client.join();
  for (int s = 0; s < kStreams; ++s) {
    SCOPED_TRACE(absl::StrCat("stream ", s));
    ASSERT_TRUE(outcomes[s].status.ok()) << outcomes[s].status.error_message();
    ASSERT_EQ(outcomes[s].layers.size(), models[s].size());
    for (const ReceivedLayer& got : outcomes[s].layers) {
      QuantOptions core;
      core.bits = 2 + s % 6;
      ExpectMatchesCore(models[s][got.result.layer_id()], got, core);
    }
  }
}

TEST_F(ModelStreamTest, ClientCancelMidStreamFreesItsMemory) {
  const LayerToSend layer = RandomLayer(1, {1024, 1024}, 31);
  ModelSession session(*stub_);
  ASSERT_TRUE(session.SendOptions(Options(4)));
  ASSERT_TRUE(session.SendHeader(layer));
  // Half of the layer: it stays incomplete, its bytes buffered.
  ASSERT_TRUE(session.SendBytes(1, layer.bytes.data(), layer.bytes.size() / 2));
  ASSERT_TRUE(WaitFor([&] { return server_->buffered_bytes() > 0; }));
  session.Cancel();
  const ModelOutcome outcome = session.Finish();
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] { return server_->buffered_bytes() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return server_->open_streams() == 0; }));
  const std::string metrics = ScrapeMetrics(server_->metrics_port());
  EXPECT_EQ(MetricValue(metrics, "squant_buffered_bytes"), 0.0);
  EXPECT_EQ(MetricValue(metrics, "squant_errors_total{reason=\"cancelled\"}"),
            1.0);
}

TEST_F(ModelStreamTest, ExpiredDeadlineEndsTheStreamAndFreesItsMemory) {
  const LayerToSend layer = RandomLayer(1, {1024, 1024}, 32);
  ModelSession session(*stub_, absl::Milliseconds(500));
  ASSERT_TRUE(session.SendOptions(Options(4)));
  ASSERT_TRUE(session.SendHeader(layer));
  ASSERT_TRUE(session.SendBytes(1, layer.bytes.data(), layer.bytes.size() / 2));
  const ModelOutcome outcome = session.AwaitEnd();
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(WaitFor([&] { return server_->buffered_bytes() == 0; }));
  EXPECT_TRUE(WaitFor([&] {
    return MetricValue(ScrapeMetrics(server_->metrics_port()),
                       "squant_errors_total{reason=\"deadline\"}") == 1.0;
  }));
}

TEST_F(ModelStreamTest, StreamBufferCapHoldsReadsBackButCompletes) {
  server_.reset();
  config_.stream_buffer_bytes = 512 << 10;
  config_.global_buffer_bytes = 1 << 20;
  config_.workers = 1;
  server_ = StartServer(config_);
  stub_ = MakeStub(server_->port());
  std::vector<LayerToSend> layers;
  for (int l = 0; l < 12; ++l) {
    layers.push_back(RandomLayer(l, {128, 256, 3, 3}, 40 + l));  // 1.1 MiB
  }
  // The client sends faster than one worker quantizes: without the caps
  // the whole model (13 MiB) would pile up in the server.
  const ModelOutcome outcome = QuantizeModel(*stub_, Options(4), layers);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.layers.size(), layers.size());
  EXPECT_EQ(server_->buffered_bytes(), 0);
  // A pause starts once over a cap, so one more layer may land.
  EXPECT_GE(server_->peak_buffered_bytes(),
            static_cast<int64_t>(layers[0].bytes.size()));
  EXPECT_LE(server_->peak_buffered_bytes(),
            config_.global_buffer_bytes + 2 * layers[0].bytes.size());
}

TEST_F(ModelStreamTest, IdleStreamWithIncompleteLayerTimesOut) {
  server_.reset();
  config_.stream_idle_timeout = absl::Milliseconds(200);
  server_ = StartServer(config_);
  stub_ = MakeStub(server_->port());
  const LayerToSend layer = RandomLayer(9, {64, 64}, 50);
  ModelSession session(*stub_);
  ASSERT_TRUE(session.SendOptions(Options(4)));
  ASSERT_TRUE(session.SendHeader(layer));
  ASSERT_TRUE(session.SendBytes(9, layer.bytes.data(), 100));
  // No half-close: the client just stalls.
  const ModelOutcome outcome = session.AwaitEnd();
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(outcome.status.error_message().find("layer 9 \"layer9.weight\""),
            std::string::npos)
      << outcome.status.error_message();
  EXPECT_NE(outcome.status.error_message().find("stream_idle_timeout"),
            std::string::npos);
  EXPECT_EQ(server_->buffered_bytes(), 0);
}

TEST_F(ModelStreamTest, EmptyStreamEndsOkWithAnEmptySummary) {
  const ModelOutcome outcome = QuantizeModel(*stub_, Options(4), {});
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_TRUE(outcome.summary.has_value());
  EXPECT_EQ(outcome.summary->layers(), 0u);
}

}  // namespace
}  // namespace squant::server::testing
