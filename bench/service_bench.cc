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
// Usage: service_bench [--runs=N] [--workers=N] [--only=e2e|core|echo|sink]
// (--only runs one phase, e.g. under perf or valgrind).

#include <sys/resource.h>

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
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/median.h"
#include "bench/model_shapes.h"
#include "client/cli/server_channel.h"
#include "core/squant.h"
#include "grpcpp/grpcpp.h"
#include "proto/byte_buffer.h"
#include "server/allocator_tuning.h"
#include "server/available_cpus.h"
#include "server/layer_buffer.h"
#include "server/logging.h"
#include "server/received_request.h"
#include "server/response_queue.h"
#include "server/server.h"
#include "squant/v1/quantization.grpc.pb.h"

namespace squant::bench {
namespace {

using v1::QuantizeModelRequest;
using v1::QuantizeModelResponse;

constexpr size_t kChunkBytes = 4 << 20;

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
// flight like the real server. It handles messages as squant-server does:
// raw, a chunk's bytes copied once into a buffer of their own (as into a
// layer) and sent back from it without another copy.
class EchoReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit EchoReactor(bool echo_bytes) : echo_bytes_(echo_bytes) {
    reading_ = true;
    StartRead(&request_bytes_);
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
        if (request_.Read(request_bytes_).ok() && request_.is_chunk()) {
          queue_.push_back(Echo());
        }
        write = StartNextWriteLocked();
        read = queue_.size() < 4;
        reading_ = read;
      }
    }
    if (write) StartWrite(&writing_message_);
    if (read) StartRead(&request_bytes_);
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
    if (read) StartRead(&request_bytes_);
    if (finish) Finish(grpc::Status::OK);
  }

  void OnDone() override { delete this; }

 private:
  grpc::ByteBuffer Echo() {
    absl::StatusOr<server::LayerBuffer> copy =
        server::AllocateLayerBuffer(request_.chunk_size());
    if (!copy.ok()) std::exit(1);
    request_.CopyChunkTo(copy->get());
    const absl::Span<const uint8_t> bytes(
        copy->get(), echo_bytes_ ? request_.chunk_size() : 0);
    return server::LayerValuesMessage(
        request_.chunk_layer_id(), 0, bytes,
        std::make_shared<server::LayerBuffer>(*std::move(copy)));
  }

  bool StartNextWriteLocked() {
    if (writing_ || queue_.empty()) return false;
    writing_message_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    return true;
  }

  const bool echo_bytes_;
  std::mutex mu_;
  grpc::ByteBuffer request_bytes_;
  server::ReceivedRequest request_;
  grpc::ByteBuffer writing_message_;
  std::deque<grpc::ByteBuffer> queue_;
  bool reading_ = false, writing_ = false, half_closed_ = false;
};

class EchoService final
    : public v1::QuantizationService::WithCallbackMethod_GetCapabilities<
          v1::QuantizationService::WithCallbackMethod_QuantizeLayer<
              v1::QuantizationService::WithRawCallbackMethod_QuantizeModel<
                  v1::QuantizationService::Service>>> {
 public:
  explicit EchoService(bool echo_bytes) : echo_bytes_(echo_bytes) {}
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* QuantizeModel(
      grpc::CallbackServerContext*) override {
    return new EchoReactor(echo_bytes_);
  }

 private:
  const bool echo_bytes_;
};

// Streams the model (options, then each layer's header and 4 MiB chunks)
// (sent without copying their bytes, as squant-cli does) while a second
// thread reads every response; returns the wall time from
// the first write to the final status.
absl::Duration StreamModel(int port, const std::vector<Layer>& layers,
                           int64_t* bytes_back) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                grpc::InsecureChannelCredentials(), args);
  channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  std::unique_ptr<cli::ModelStream> stream =
      cli::OpenModelStream(*channel, context);
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
  stream->Write(ToByteBuffer(request));
  for (size_t id = 0; id < layers.size(); ++id) {
    const Layer& layer = layers[id];
    v1::LayerHeader& header = *request.mutable_layer_header();
    header.set_layer_id(id);
    header.set_name(layer.shape.name);
    header.mutable_shape()->Assign(layer.shape.shape.begin(),
                                   layer.shape.shape.end());
    header.set_dtype(v1::DTYPE_F32);
    stream->Write(ToByteBuffer(request));
    const absl::Span<const uint8_t> bytes = layer.bytes;
    for (size_t offset = 0; offset < bytes.size(); offset += kChunkBytes) {
      stream->Write(
          cli::LayerChunkRequest(id, bytes.subspan(offset, kChunkBytes)));
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

// CPU time used by the whole process (client, servers and workers).
absl::Duration ProcessCpuTime() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return absl::DurationFromTimeval(usage.ru_utime) +
         absl::DurationFromTimeval(usage.ru_stime);
}

struct Figures {
  std::vector<double> runs;
  std::vector<double> cpu;
  // Runs `run` (which returns its wall time) and records its wall time and
  // the process's CPU time meanwhile.
  template <typename Run>
  void Measure(Run run) {
    const absl::Duration cpu_before = ProcessCpuTime();
    runs.push_back(Ms(run()));
    cpu.push_back(Ms(ProcessCpuTime() - cpu_before));
  }
  double cpu_median() const { return Median(cpu); }
  double best() const { return *std::min_element(runs.begin(), runs.end()); }
  double median() const { return Median(runs); }
};

int Main(int argc, char** argv) {
  // As squant-server does; it helps the echo and sink servers as much.
  server::KeepFreedMemoryForReuse();
  int runs = 7;
  int workers = server::AvailableCpus();
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (absl::StartsWith(arg, "--runs=")) {
      (void)absl::SimpleAtoi(arg.substr(7), &runs);
    } else if (absl::StartsWith(arg, "--only=")) {
      only = arg.substr(7);
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
  const auto wanted = [&](absl::string_view phase) {
    return only.empty() || only == phase;
  };
  StreamModel((*squant)->port(), layers, &back);  // warm-up
  for (int run = 0; run < runs; ++run) {
    if (wanted("e2e")) {
      end_to_end.Measure(
          [&] { return StreamModel((*squant)->port(), layers, &back); });
    }
    if (wanted("core")) {
      core.Measure([&] { return CoreTime(layers, workers); });
    }
    if (wanted("echo")) {
      echoed.Measure(
          [&] { return StreamModel(echo_port, layers, &echo_back); });
    }
    if (wanted("sink")) {
      sunk.Measure([&] { return StreamModel(sink_port, layers, &sink_back); });
    }
  }
  (*squant)->Shutdown(absl::ZeroDuration());
  echo->Shutdown();
  sink->Shutdown();

  std::fprintf(stderr,
               "%s: %zu layers, %.2f M weights, %.1f MB F32 in, %.1f MB int8 "
               "back; %d workers, %d runs (ms)\n",
               model.name.c_str(), layers.size(), model.elements() / 1e6,
               input_bytes / 1e6, back / 1e6, workers, runs);
  std::fprintf(stderr,
               "                              median      best  CPU median "
               "(all threads)\n");
  const std::string echo_label =
      absl::StrFormat("echo server (%4.0f MB back)", echo_back / 1e6);
  for (const auto& [label, figures] :
       {std::pair<std::string, const Figures*>{"end to end (squant-server)",
                                               &end_to_end},
        {"core in-process", &core},
        {echo_label, &echoed},
        {"sink server (acks only)", &sunk}}) {
    if (figures->runs.empty()) continue;
    std::fprintf(stderr, "  %-26s  %8.1f  %8.1f  %8.1f\n", label.c_str(),
                 figures->median(), figures->best(), figures->cpu_median());
  }
  if (only.empty()) {
    const double baseline = std::max(core.median(), echoed.median());
    std::fprintf(stderr,
                 "  end to end / max(core, echo) = %.2f (target <= 1.5); "
                 "end to end %.1f ms (target < 188)\n",
                 end_to_end.median() / baseline, end_to_end.median());
  }
  return 0;
}

}  // namespace
}  // namespace squant::bench

int main(int argc, char** argv) { return squant::bench::Main(argc, argv); }
