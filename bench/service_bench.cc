// Streams ResNet-50-shaped random F32 weights through squant-server on
// loopback and prints, in the same run:
// - end to end: the client streams every layer (4 MiB chunks) and reads
//   every result; the server assembles, quantizes and sends them back;
// - core: the same layers quantized in-process by the core library, layers
//   spread over the same number of threads as the server's workers;
// - echo: the same bytes streamed to a server that only echoes each chunk
//   back (gRPC and loopback cost alone; it returns 4x the bytes the real
//   service returns), and to a sink that acknowledges each chunk.
// Targets (issue 3): end to end within 1.5x of max(core, echo); ResNet-50
// end to end under 188 ms (the paper's A100 figure).
//
// Usage: service_bench [--runs=N] [--workers=N]

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/model_shapes.h"
#include "core/squant.h"
#include "grpcpp/grpcpp.h"
#include "server/available_cpus.h"
#include "server/logging.h"
#include "server/server.h"
#include "squant/v1/quantization.grpc.pb.h"

namespace squant::bench {
namespace {

using v1::QuantizeModelRequest;
using v1::QuantizeModelResponse;

constexpr int64_t kChunkBytes = 4 << 20;

struct Layer {
  LayerShape shape;
  std::vector<uint8_t> bytes;
};

std::vector<Layer> RandomModel(const ModelShapes& model) {
  std::mt19937 rng(2022);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<Layer> layers;
  for (const LayerShape& shape : model.layers) {
    Layer layer{shape, std::vector<uint8_t>(shape.elements() * 4)};
    float* values = reinterpret_cast<float*>(layer.bytes.data());
    for (int64_t i = 0; i < shape.elements(); ++i) values[i] = normal(rng);
    layers.push_back(std::move(layer));
  }
  return layers;
}

// The echo-only service: every LayerChunk comes back as a LayerValues with
// the same bytes (or empty, as a sink), pipelined with a few messages in
// flight like the real server.
class EchoReactor final
    : public grpc::ServerBidiReactor<QuantizeModelRequest,
                                     QuantizeModelResponse> {
 public:
  explicit EchoReactor(bool echo_bytes) : echo_bytes_(echo_bytes) {
    reading_ = true;
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    bool write = false, read = false, finish = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reading_ = false;
      if (!ok) {
        half_closed_ = true;
        finish = !writing_ && queue_.empty();
      } else {
        if (request_.has_layer_chunk()) {
          QuantizeModelResponse response;
          v1::LayerValues& values = *response.mutable_layer_values();
          values.set_layer_id(request_.layer_chunk().layer_id());
          if (echo_bytes_) {
            values.set_data(
                std::move(*request_.mutable_layer_chunk()->mutable_data()));
          }
          queue_.push_back(std::move(response));
        }
        write = StartNextWriteLocked();
        read = queue_.size() < 4;
        reading_ = read;
      }
    }
    if (write) StartWrite(&writing_message_);
    if (read) StartRead(&request_);
    if (finish) Finish(grpc::Status::OK);
  }

  void OnWriteDone(bool ok) override {
    bool write = false, read = false, finish = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (ok) write = StartNextWriteLocked();
      if (!half_closed_ && !reading_ && queue_.size() < 4) {
        reading_ = read = true;
      }
      finish = half_closed_ && !writing_ && (queue_.empty() || !ok);
    }
    if (write) StartWrite(&writing_message_);
    if (read) StartRead(&request_);
    if (finish) Finish(grpc::Status::OK);
  }

  void OnDone() override { delete this; }

 private:
  bool StartNextWriteLocked() {
    if (writing_ || queue_.empty()) return false;
    writing_message_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    return true;
  }

  const bool echo_bytes_;
  std::mutex mu_;
  QuantizeModelRequest request_;
  QuantizeModelResponse writing_message_;
  std::deque<QuantizeModelResponse> queue_;
  bool reading_ = false, writing_ = false, half_closed_ = false;
};

class EchoService final : public v1::QuantizationService::CallbackService {
 public:
  explicit EchoService(bool echo_bytes) : echo_bytes_(echo_bytes) {}
  grpc::ServerBidiReactor<QuantizeModelRequest, QuantizeModelResponse>*
  QuantizeModel(grpc::CallbackServerContext*) override {
    return new EchoReactor(echo_bytes_);
  }

 private:
  const bool echo_bytes_;
};

// Streams the model (options, then each layer's header and 4 MiB chunks)
// while a second thread reads every response; returns the wall time from
// the first write to the final status.
absl::Duration StreamModel(int port, const std::vector<Layer>& layers,
                           int64_t* bytes_back) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                grpc::InsecureChannelCredentials(), args);
  auto stub = v1::QuantizationService::NewStub(channel);
  channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  auto stream = stub->QuantizeModel(&context);
  int64_t received = 0;
  std::thread reader([&] {
    QuantizeModelResponse response;
    while (stream->Read(&response)) {
      if (response.has_layer_values()) {
        received += response.layer_values().data().size();
      }
    }
  });
  QuantizeModelRequest request;
  request.mutable_options()->mutable_defaults()->set_bits(4);
  stream->Write(request);
  for (size_t id = 0; id < layers.size(); ++id) {
    const Layer& layer = layers[id];
    v1::LayerHeader& header = *request.mutable_layer_header();
    header.set_layer_id(id);
    header.set_name(layer.shape.name);
    header.mutable_shape()->Assign(layer.shape.shape.begin(),
                                   layer.shape.shape.end());
    header.set_dtype(v1::DTYPE_F32);
    stream->Write(request);
    const int64_t total = static_cast<int64_t>(layer.bytes.size());
    for (int64_t offset = 0; offset < total; offset += kChunkBytes) {
      v1::LayerChunk& chunk = *request.mutable_layer_chunk();
      chunk.set_layer_id(id);
      chunk.set_data(layer.bytes.data() + offset,
                     std::min(kChunkBytes, total - offset));
      stream->Write(request);
    }
  }
  stream->WritesDone();
  reader.join();
  const grpc::Status status = stream->Finish();
  const absl::Duration elapsed = absl::Now() - start;
  if (!status.ok()) {
    std::fprintf(stderr, "stream failed: %s\n", status.error_message().c_str());
    std::exit(1);
  }
  *bytes_back = received;
  return elapsed;
}

// The core alone: `threads` threads take layers in turn, as the server's
// workers do when layers arrive faster than they are quantized.
absl::Duration CoreTime(const std::vector<Layer>& layers, int threads) {
  std::atomic<size_t> next{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < layers.size();) {
        WeightTensor weights;
        weights.shape = layers[i].shape.shape;
        weights.data = layers[i].bytes;
        QuantOptions options;
        if (!Quantize(weights, options).ok()) std::exit(1);
      }
    });
  }
  for (std::thread& thread : pool) thread.join();
  return absl::Now() - start;
}

std::unique_ptr<grpc::Server> StartEcho(EchoService& service, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(64 << 20);
  return builder.BuildAndStart();
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

struct Figures {
  std::vector<double> runs;
  double best() const { return *std::min_element(runs.begin(), runs.end()); }
  double median() const {
    std::vector<double> sorted = runs;
    std::sort(sorted.begin(), sorted.end());
    return sorted[sorted.size() / 2];
  }
};

int Main(int argc, char** argv) {
  int runs = 7;
  int workers = server::AvailableCpus();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (absl::StartsWith(arg, "--runs=")) {
      (void)absl::SimpleAtoi(arg.substr(7), &runs);
    } else if (absl::StartsWith(arg, "--workers=")) {
      (void)absl::SimpleAtoi(arg.substr(10), &workers);
    }
  }
  const ModelShapes model = ResNet50();
  const std::vector<Layer> layers = RandomModel(model);
  int64_t input_bytes = 0;
  for (const Layer& layer : layers) input_bytes += layer.bytes.size();

  server::ServerConfig config;
  config.bind_address = config.metrics_bind_address = "127.0.0.1";
  config.port = config.metrics_port = 0;
  config.workers = workers;
  // The server logs one line per stream; keep the figures readable.
  std::freopen("/dev/null", "w", stdout);
  auto squant = server::SquantServer::Start(config);
  if (!squant.ok()) {
    std::fprintf(stderr, "%s\n", squant.status().ToString().c_str());
    return 1;
  }
  EchoService echo_service(/*echo_bytes=*/true), sink_service(false);
  int echo_port = 0, sink_port = 0;
  auto echo = StartEcho(echo_service, &echo_port);
  auto sink = StartEcho(sink_service, &sink_port);

  Figures end_to_end, core, echoed, sunk;
  int64_t back = 0, echo_back = 0, sink_back = 0;
  StreamModel((*squant)->port(), layers, &back);  // warm-up
  for (int run = 0; run < runs; ++run) {
    end_to_end.runs.push_back(
        Ms(StreamModel((*squant)->port(), layers, &back)));
    core.runs.push_back(Ms(CoreTime(layers, workers)));
    echoed.runs.push_back(Ms(StreamModel(echo_port, layers, &echo_back)));
    sunk.runs.push_back(Ms(StreamModel(sink_port, layers, &sink_back)));
  }
  (*squant)->Shutdown(absl::ZeroDuration());
  echo->Shutdown();
  sink->Shutdown();

  const double baseline = std::max(core.median(), echoed.median());
  std::fprintf(stderr,
               "%s: %zu layers, %.2f M weights, %.1f MB F32 in, %.1f MB int8 "
               "back; %d workers, %d runs (median / best, ms)\n",
               model.name.c_str(), layers.size(), model.elements() / 1e6,
               input_bytes / 1e6, back / 1e6, workers, runs);
  std::fprintf(stderr, "  end to end (squant-server)  %8.1f  %8.1f\n",
               end_to_end.median(), end_to_end.best());
  std::fprintf(stderr, "  core in-process             %8.1f  %8.1f\n",
               core.median(), core.best());
  std::fprintf(stderr, "  echo server (%4.0f MB back)  %8.1f  %8.1f\n",
               echo_back / 1e6, echoed.median(), echoed.best());
  std::fprintf(stderr, "  sink server (acks only)     %8.1f  %8.1f\n",
               sunk.median(), sunk.best());
  std::fprintf(stderr,
               "  end to end / max(core, echo) = %.2f (target <= 1.5); "
               "end to end %.1f ms (target < 188)\n",
               end_to_end.median() / baseline, end_to_end.median());
  return 0;
}

}  // namespace
}  // namespace squant::bench

int main(int argc, char** argv) { return squant::bench::Main(argc, argv); }
