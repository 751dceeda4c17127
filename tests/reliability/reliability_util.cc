#include "tests/reliability/reliability_util.h"

#include <cstring>
#include <sstream>

#include "gtest/gtest.h"

namespace squant::reliability {

using server::testing::ServerProcess;

double Metric(ServerProcess& server, const std::string& series) {
  const std::optional<double> value = server::testing::MetricValue(
      server::testing::ScrapeMetrics(server.metrics_port()), series);
  return value.value_or(-1);
}

double MetricSum(ServerProcess& server, const std::string& name) {
  std::istringstream lines(
      server::testing::ScrapeMetrics(server.metrics_port()));
  std::string line;
  double sum = 0;
  while (std::getline(lines, line)) {
    if (line.compare(0, name.size(), name) != 0 || line.size() <= name.size() ||
        (line[name.size()] != '{' && line[name.size()] != ' ')) {
      continue;
    }
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

bool AwaitIdle(ServerProcess& server, absl::Duration timeout) {
  return server::testing::WaitFor(
      [&] {
        return Metric(server, "squant_buffered_bytes") == 0 &&
               Metric(server, "squant_streams_in_flight") == 0;
      },
      timeout);
}

void ExpectServesCorrectly(int port) {
  auto stub = server::testing::MakeStub(port);
  const std::vector<server::testing::LayerToSend> layers = {
      server::testing::RandomLayer(1, {32, 16, 3, 3}, 11),
      server::testing::RandomLayer(2, {10, 64}, 12)};
  const server::testing::ModelOutcome outcome =
      server::testing::QuantizeModel(*stub, v1::ModelOptions(), layers);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_EQ(outcome.layers.size(), layers.size());
  for (const server::testing::ReceivedLayer& received : outcome.layers) {
    const server::testing::LayerToSend& sent =
        layers[received.result.layer_id() - 1];
    const QuantizedLayer core =
        server::testing::CoreQuantize(sent, QuantOptions());
    EXPECT_TRUE(SameValues(received.values, core.values)) << sent.name;
  }
}

bool SameValues(const std::vector<uint8_t>& received,
                const std::vector<int8_t>& core) {
  return received.size() == core.size() &&
         std::memcmp(received.data(), core.data(), core.size()) == 0;
}

std::vector<std::string> StreamEndCodes(const std::string& log) {
  std::vector<std::string> codes;
  std::istringstream lines(log);
  std::string line;
  const std::string key = "\"code\":\"";
  while (std::getline(lines, line)) {
    if (line.find("\"event\":\"stream_end\"") == std::string::npos) continue;
    const size_t at = line.find(key);
    if (at == std::string::npos) continue;
    const size_t begin = at + key.size();
    codes.push_back(line.substr(begin, line.find('"', begin) - begin));
  }
  return codes;
}

}  // namespace squant::reliability
