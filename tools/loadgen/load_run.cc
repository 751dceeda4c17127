#include "tools/loadgen/load_run.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iterator>
#include <mutex>
#include <random>
#include <thread>

#include "absl/time/clock.h"
#include "squant/v1/quantization.grpc.pb.h"

namespace squant::loadgen {
namespace {

struct StreamOutcome {
  grpc::Status status;
  bool complete = false;  // every layer's values and the summary arrived
  int64_t layers = 0;
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
};

// One model over one stream: a reader thread drains results while this
// thread sends, as the server's backpressure requires.
StreamOutcome QuantizeOnce(v1::QuantizationService::Stub& stub,
                           const LoadModel& model, const LoadConfig& config) {
  grpc::ClientContext context;
  context.set_deadline(
      absl::ToChronoTime(absl::Now() + config.request_timeout));
  auto stream = stub.QuantizeModel(&context);
  StreamOutcome outcome;
  int64_t values_announced = 0;
  bool summary = false;
  std::thread reader([&] {
    v1::QuantizeModelResponse response;
    while (stream->Read(&response)) {
      switch (response.kind_case()) {
        case v1::QuantizeModelResponse::kLayerResult:
          ++outcome.layers;
          values_announced += response.layer_result().values_bytes();
          break;
        case v1::QuantizeModelResponse::kLayerValues:
          outcome.bytes_received += response.layer_values().data().size();
          break;
        case v1::QuantizeModelResponse::kSummary:
          summary = true;
          break;
        default:
          break;
      }
    }
  });
  v1::QuantizeModelRequest request;
  *request.mutable_options() = config.options;
  bool writing = stream->Write(request);
  for (size_t i = 0; writing && i < model.layers.size(); ++i) {
    const LoadLayer& layer = model.layers[i];
    v1::LayerHeader& header = *request.mutable_layer_header();
    header.set_layer_id(i);
    header.set_name(layer.name);
    header.mutable_shape()->Assign(layer.shape.begin(), layer.shape.end());
    header.set_dtype(v1::DTYPE_F32);
    writing = stream->Write(request);
    for (size_t at = 0; writing && at < layer.bytes.size();
         at += config.chunk_bytes) {
      v1::LayerChunk& chunk = *request.mutable_layer_chunk();
      chunk.set_layer_id(i);
      chunk.set_data(layer.bytes.substr(at, config.chunk_bytes));
      writing = stream->Write(request);
      if (writing) outcome.bytes_sent += chunk.data().size();
    }
  }
  if (writing) stream->WritesDone();
  reader.join();
  outcome.status = stream->Finish();
  outcome.complete =
      summary && outcome.layers == static_cast<int64_t>(model.layers.size()) &&
      outcome.bytes_received == values_announced;
  return outcome;
}

}  // namespace

std::string CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < static_cast<int>(std::size(kNames))
             ? kNames[index]
             : "CODE_" + std::to_string(index);
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100 * values.size()));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

LoadReport RunLoad(const LoadConfig& config, const ModelMix& mix) {
  LoadReport report;
  for (const LoadModel& model : mix.models()) {
    report.latencies.push_back({model.name, {}});
  }
  std::mutex mu;
  std::atomic<int64_t> started{0};
  const absl::Time start = absl::Now();
  const absl::Time end = start + config.duration;
  std::vector<std::thread> streams;
  for (int s = 0; s < config.streams; ++s) {
    streams.emplace_back([&, s] {
      // A distinct argument gives each stream its own connection, as
      // separate clients would have.
      grpc::ChannelArguments args;
      args.SetInt("squant.loadgen.stream", s);
      args.SetMaxReceiveMessageSize(-1);
      auto stub = v1::QuantizationService::NewStub(
          grpc::CreateCustomChannel(config.server, config.credentials, args));
      std::mt19937 rng(config.seed + s);
      while (absl::Now() < end &&
             (config.max_requests == 0 ||
              started.fetch_add(1) < config.max_requests)) {
        const int index = mix.Pick(rng);
        const absl::Time begin = absl::Now();
        const StreamOutcome outcome =
            QuantizeOnce(*stub, mix.models()[index], config);
        const double seconds = absl::ToDoubleSeconds(absl::Now() - begin);
        std::lock_guard<std::mutex> lock(mu);
        report.layers += outcome.layers;
        report.bytes_sent += outcome.bytes_sent;
        report.bytes_received += outcome.bytes_received;
        if (outcome.status.ok() && outcome.complete) {
          ++report.requests_ok;
          report.latencies[index].seconds.push_back(seconds);
        } else {
          ++report.requests_failed;
          ++report.errors[outcome.status.ok()
                              ? "INCOMPLETE_RESULT"
                              : CodeName(outcome.status.error_code())];
        }
      }
    });
  }
  for (std::thread& stream : streams) stream.join();
  report.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return report;
}

}  // namespace squant::loadgen
