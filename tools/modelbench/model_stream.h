// One model through one QuantizeModel stream, the way a careful client
// does it: the main thread sends each layer's header and chunks while a
// reader thread takes the results, and no more than a window of layers is
// in flight (sent, results not yet all back), so neither side holds more
// than a few layers whatever the model's size.

#ifndef SQUANT_TOOLS_MODELBENCH_MODEL_STREAM_H_
#define SQUANT_TOOLS_MODELBENCH_MODEL_STREAM_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "bench/model_shapes.h"
#include "grpcpp/channel.h"
#include "squant/v1/quantization.grpc.pb.h"

namespace squant::modelbench {

// What the benchmarks need to know about the server.
struct ServerInfo {
  std::string version;
  int workers = 0;
  // LayerChunk size: the server's advice, kept under its message limit.
  uint64_t chunk_bytes = 0;
};

absl::StatusOr<ServerInfo> AskServer(grpc::Channel& channel);

// Bytes [offset, offset + size) of layer `layer`'s input; the view must
// stay valid and unchanged until the stream has finished (it is sent
// without a copy). Offsets are multiples of the chunk size.
using ChunkSource = std::function<absl::Span<const uint8_t>(
    size_t layer, uint64_t offset, uint64_t size)>;

// Takes the results as they arrive (in order of completion). An error
// cancels the stream and is returned by StreamModel.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual absl::Status OnResult(size_t layer,
                                const v1::LayerResult& result) = 0;
  virtual absl::Status OnValues(size_t layer, uint64_t offset,
                                absl::string_view data) = 0;
};

struct StreamConfig {
  v1::ModelOptions options;
  v1::Dtype dtype = v1::DTYPE_F32;  // of every layer
  uint64_t chunk_bytes = 4 << 20;
  // A layer is sent only while fewer than `window_layers` are in flight
  // and their input bytes stay within `window_bytes` (or none is).
  int window_layers = 8;
  uint64_t window_bytes = uint64_t{256} << 20;
  absl::Duration timeout = absl::Minutes(10);
};

struct StreamTotals {
  uint64_t bytes_received = 0;  // quantized value bytes
  // Sums over layers of the server's LayerStats times.
  double server_quantize_seconds = 0;
  double server_queue_seconds = 0;
};

// Streams every layer of `model` and checks that each came back whole,
// followed by the summary, and that the stream ended OK.
absl::StatusOr<StreamTotals> StreamModel(grpc::Channel& channel,
                                         const bench::ModelShapes& model,
                                         const ChunkSource& source,
                                         ResultSink& sink,
                                         const StreamConfig& config);

}  // namespace squant::modelbench

#endif  // SQUANT_TOOLS_MODELBENCH_MODEL_STREAM_H_
