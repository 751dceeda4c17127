// QuantizeLayer, GetCapabilities, the health service and /metrics.

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/test_util.h"

namespace squant::server::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.max_unary_layer_bytes = 1 << 20;
    config_.health_port = 0;
    server_ = StartServer(config_);
    ASSERT_NE(server_, nullptr);
    stub_ = MakeStub(server_->port());
  }

  v1::QuantizeLayerRequest LayerRequest(const LayerToSend& layer, int bits) {
    v1::QuantizeLayerRequest request;
    request.mutable_options()->set_bits(bits);
    request.set_name(layer.name);
    request.mutable_shape()->Assign(layer.shape.begin(), layer.shape.end());
    request.set_dtype(v1::DTYPE_F32);
    request.set_data(layer.bytes.data(), layer.bytes.size());
    return request;
  }

  ServerConfig config_ = TestConfig();
  std::unique_ptr<SquantServer> server_;
  std::unique_ptr<v1::QuantizationService::Stub> stub_;
};

TEST_F(ServiceTest, GetCapabilitiesReportsTheConfiguredLimits) {
  grpc::ClientContext context;
  v1::GetCapabilitiesResponse capabilities;
  ASSERT_TRUE(stub_
                  ->GetCapabilities(&context, v1::GetCapabilitiesRequest(),
                                    &capabilities)
                  .ok());
  EXPECT_EQ(capabilities.min_bits(), 2u);
  EXPECT_EQ(capabilities.max_bits(), 8u);
  EXPECT_EQ(capabilities.max_packed_bits(), 4u);
  EXPECT_EQ(capabilities.modes_size(), 4);
  EXPECT_EQ(capabilities.dtypes_size(), 3);
  EXPECT_EQ(capabilities.max_layer_bytes(),
            static_cast<uint64_t>(config_.max_layer_bytes));
  EXPECT_EQ(capabilities.max_unary_layer_bytes(), 1u << 20);
  EXPECT_EQ(capabilities.chunk_bytes(),
            static_cast<uint64_t>(config_.chunk_bytes));
  EXPECT_GE(capabilities.max_message_bytes(), capabilities.chunk_bytes());
  EXPECT_EQ(capabilities.workers(), 2u);
  EXPECT_FALSE(capabilities.server_version().empty());
}

TEST_F(ServiceTest, QuantizeLayerMatchesCore) {
  const LayerToSend layer = RandomLayer(0, {48, 16, 3, 3}, 77);
  grpc::ClientContext context;
  v1::QuantizeLayerResponse response;
  const grpc::Status status =
      stub_->QuantizeLayer(&context, LayerRequest(layer, 5), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  QuantOptions options;
  options.bits = 5;
  const QuantizedLayer want = CoreQuantize(layer, options);
  ASSERT_EQ(response.values().size(), want.values.size());
  EXPECT_EQ(std::memcmp(response.values().data(), want.values.data(),
                        want.values.size()),
            0);
  EXPECT_EQ(response.result().values_bytes(), want.values.size());
  ASSERT_EQ(response.result().zero_point_size(), 48);
  EXPECT_EQ(response.result().zero_point(7), want.zero_point[7]);
  EXPECT_EQ(response.result().name(), layer.name);
}

TEST_F(ServiceTest, QuantizeLayerPacked) {
  const LayerToSend layer = RandomLayer(0, {8, 7}, 78);
  v1::QuantizeLayerRequest request = LayerRequest(layer, 4);
  request.mutable_options()->set_pack(true);
  grpc::ClientContext context;
  v1::QuantizeLayerResponse response;
  ASSERT_TRUE(stub_->QuantizeLayer(&context, request, &response).ok());
  const QuantizedLayer want = CoreQuantize(layer, QuantOptions{});
  const std::vector<uint8_t> packed = PackInt4(want.values, want.geometry);
  EXPECT_TRUE(response.result().packed());
  EXPECT_EQ(response.values(), std::string(packed.begin(), packed.end()));
}

TEST_F(ServiceTest, QuantizeLayerErrors) {
  {
    const LayerToSend big = RandomLayer(0, {512, 1024}, 79);  // 2 MiB
    grpc::ClientContext context;
    v1::QuantizeLayerResponse response;
    const grpc::Status status =
        stub_->QuantizeLayer(&context, LayerRequest(big, 4), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(status.error_message().find("--max_unary_layer_bytes"),
              std::string::npos)
        << status.error_message();
  }
  {
    const LayerToSend layer = RandomLayer(0, {4, 4}, 80);
    v1::QuantizeLayerRequest request = LayerRequest(layer, 4);
    request.mutable_data()->pop_back();
    grpc::ClientContext context;
    v1::QuantizeLayerResponse response;
    const grpc::Status status =
        stub_->QuantizeLayer(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(
        status.error_message().find("layer 0 \"layer0.weight\": got 63 bytes"),
        std::string::npos)
        << status.error_message();
  }
}

TEST_F(ServiceTest, HealthServiceReportsServing) {
  auto health = Health::NewStub(MakeChannel(server_->port()));
  for (const std::string service : {"", "squant.v1.QuantizationService"}) {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING) << service;
  }
}

TEST(HealthPortTest, PlaintextHealthOnlyServerAnswersAndDrains) {
  ServerConfig config = TestConfig();
  // A free port: bind port 0 on a throwaway server first.
  std::unique_ptr<SquantServer> probe = StartServer(TestConfig());
  const int free_port = probe->port();
  probe.reset();
  config.health_port = free_port;
  std::unique_ptr<SquantServer> server = StartServer(config);
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(server->health_port(), free_port);
  auto health = Health::NewStub(MakeChannel(server->health_port()));
  grpc::ClientContext context;
  HealthCheckRequest request;
  request.set_service("squant.v1.QuantizationService");
  HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
}

TEST_F(ServiceTest, MetricsMoveWithTraffic) {
  const LayerToSend layer = RandomLayer(0, {16, 16}, 81);
  v1::ModelOptions options;
  options.mutable_defaults()->set_bits(3);
  ASSERT_TRUE(
      QuantizeModel(*stub_, options, {layer, RandomLayer(1, {8, 8}, 82)})
          .status.ok());
  const std::string metrics = ScrapeMetrics(server_->metrics_port());
  // prometheus-cpp sorts labels by name.
  const std::string model_labels =
      "grpc_method=\"QuantizeModel\",grpc_service=\"squant.v1."
      "QuantizationService\",grpc_type=\"bidi_stream\"";
  EXPECT_EQ(
      MetricValue(metrics, "grpc_server_started_total{" + model_labels + "}"),
      1.0)
      << metrics;
  EXPECT_EQ(MetricValue(metrics, "grpc_server_handled_total{grpc_code=\"OK\"," +
                                     model_labels + "}"),
            1.0);
  // Options, 2 headers, 2 chunks in; 2 results, 2 value chunks, a summary out.
  EXPECT_EQ(MetricValue(metrics,
                        "grpc_server_msg_received_total{" + model_labels + "}"),
            5.0);
  EXPECT_EQ(
      MetricValue(metrics, "grpc_server_msg_sent_total{" + model_labels + "}"),
      5.0);
  EXPECT_EQ(
      MetricValue(metrics, "squant_layers_total{bits=\"3\",mode=\"squant\"}"),
      2.0);
  EXPECT_EQ(MetricValue(metrics, "squant_elements_total"), 256.0 + 64.0);
  EXPECT_EQ(MetricValue(metrics, "squant_received_bytes_total"), 4 * 320.0);
  EXPECT_EQ(MetricValue(metrics, "squant_sent_bytes_total"), 320.0);
  EXPECT_EQ(MetricValue(metrics, "squant_model_seconds_count"), 1.0);
  EXPECT_EQ(MetricValue(metrics,
                        "squant_layer_quantize_seconds_count{bits=\"3\",mode="
                        "\"squant\"}"),
            2.0);
  EXPECT_EQ(MetricValue(metrics, "squant_workers"), 2.0);
  EXPECT_EQ(MetricValue(metrics, "squant_build_info{version=\"" +
                                     std::string(SQUANT_VERSION) + "\"}"),
            1.0);
}

}  // namespace
}  // namespace squant::server::testing
