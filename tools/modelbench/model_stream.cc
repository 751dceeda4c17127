#include "tools/modelbench/model_stream.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/cli/server_channel.h"
#include "grpcpp/grpcpp.h"
#include "proto/byte_buffer.h"

namespace squant::modelbench {
namespace {

// Requests go as serialized bytes: chunks are sent from the source's memory
// without copies (client/cli/server_channel.h), as squant-cli sends them.
using Stream = cli::ModelStream;

constexpr uint64_t kDefaultChunkBytes = 4 << 20;
// Room for a chunk's message framing under the server's message limit.
constexpr uint64_t kMessageOverheadBytes = 64 << 10;

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat("server: ", status.error_message()));
}

// The state one stream's writer (the caller's thread) and reader share.
class ModelStream {
 public:
  ModelStream(const bench::ModelShapes& model, const ChunkSource& source,
              ResultSink& sink, const StreamConfig& config)
      : model_(model),
        source_(source),
        sink_(sink),
        config_(config),
        complete_(model.layers.size(), false) {}

  absl::StatusOr<StreamTotals> Run(grpc::Channel& channel) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + config_.timeout));
    std::unique_ptr<Stream> stream = cli::OpenModelStream(channel, context_);
    std::thread reader([&] { Read(*stream); });
    const bool all_written = Write(*stream);
    if (all_written) stream->WritesDone();
    reader.join();
    const grpc::Status status = stream->Finish();
    absl::MutexLock lock(&mutex_);
    if (!reader_status_.ok()) return reader_status_;
    if (!status.ok()) return FromGrpc(status);
    if (!all_written || !summary_ || completed_ != model_.layers.size()) {
      return absl::DataLossError(absl::StrCat(
          "the stream ended OK with ", completed_, " of ", model_.layers.size(),
          " layers returned", summary_ ? "" : " and no summary"));
    }
    return totals_;
  }

 private:
  // Sends every layer; false if the stream broke or the reader gave up.
  bool Write(Stream& stream) {
    v1::QuantizeModelRequest request;
    *request.mutable_options() = config_.options;
    if (!stream.Write(ToByteBuffer(request))) return false;
    for (size_t index = 0; index < model_.layers.size(); ++index) {
      const bench::LayerShape& layer = model_.layers[index];
      const uint64_t bytes = InputBytes(layer);
      if (!WaitForRoom(bytes)) return false;
      v1::LayerHeader& header = *request.mutable_layer_header();
      header.set_layer_id(index);
      header.set_name(layer.name);
      header.mutable_shape()->Assign(layer.shape.begin(), layer.shape.end());
      header.set_dtype(config_.dtype);
      if (!stream.Write(ToByteBuffer(request))) return false;
      for (uint64_t offset = 0; offset < bytes; offset += config_.chunk_bytes) {
        const absl::Span<const uint8_t> data = source_(
            index, offset, std::min(config_.chunk_bytes, bytes - offset));
        if (!stream.Write(cli::LayerChunkRequest(index, data))) return false;
      }
    }
    return true;
  }

  uint64_t InputBytes(const bench::LayerShape& layer) const {
    return layer.elements() * (config_.dtype == v1::DTYPE_F32 ? 4 : 2);
  }

  bool WaitForRoom(uint64_t bytes) {
    absl::MutexLock lock(&mutex_);
    const auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      return reader_done_ || in_flight_layers_ == 0 ||
             (in_flight_layers_ < config_.window_layers &&
              in_flight_bytes_ + bytes <= config_.window_bytes);
    };
    mutex_.Await(absl::Condition(&room));
    if (reader_done_) return false;
    ++in_flight_layers_;
    in_flight_bytes_ += bytes;
    return true;
  }

  void Read(Stream& stream) {
    const absl::Status status = ReadAll(stream);
    absl::MutexLock lock(&mutex_);
    if (!status.ok()) {
      reader_status_ = status;
      context_.TryCancel();
    }
    reader_done_ = true;
  }

  absl::Status ReadAll(Stream& stream) {
    constexpr size_t kNone = ~size_t{0};
    size_t current = kNone;
    uint64_t expected = 0, received = 0;
    v1::QuantizeModelResponse response;
    while (stream.Read(&response)) {
      if (response.has_layer_result()) {
        const v1::LayerResult& result = response.layer_result();
        const uint64_t id = result.layer_id();
        if (current != kNone || id >= complete_.size() || complete_[id]) {
          return absl::InternalError(absl::StrCat(
              "server sent a result for layer ", id, " out of sequence"));
        }
        if (absl::Status status = sink_.OnResult(id, result); !status.ok()) {
          return status;
        }
        totals_.server_quantize_seconds += result.stats().quantize_seconds();
        totals_.server_queue_seconds += result.stats().queue_seconds();
        current = id;
        expected = result.values_bytes();
        received = 0;
      } else if (response.has_layer_values()) {
        const v1::LayerValues& values = response.layer_values();
        if (current == kNone || values.layer_id() != current ||
            values.offset() != received ||
            values.data().size() > expected - received) {
          return absl::InternalError(
              absl::StrCat("server sent values of layer ", values.layer_id(),
                           " at offset ", values.offset(), " out of sequence"));
        }
        if (absl::Status status =
                sink_.OnValues(current, received, values.data());
            !status.ok()) {
          return status;
        }
        received += values.data().size();
        totals_.bytes_received += values.data().size();
      } else if (response.has_summary()) {
        absl::MutexLock lock(&mutex_);
        summary_ = true;
      }
      if (current != kNone && received == expected) {
        complete_[current] = true;
        absl::MutexLock lock(&mutex_);
        ++completed_;
        --in_flight_layers_;
        in_flight_bytes_ -= InputBytes(model_.layers[current]);
        current = kNone;
      }
    }
    return absl::OkStatus();
  }

  const bench::ModelShapes& model_;
  const ChunkSource& source_;
  ResultSink& sink_;
  const StreamConfig& config_;
  grpc::ClientContext context_;
  // The reader thread's own until it is joined.
  std::vector<bool> complete_;
  StreamTotals totals_;

  absl::Mutex mutex_;
  int in_flight_layers_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t in_flight_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
  size_t completed_ ABSL_GUARDED_BY(mutex_) = 0;
  bool summary_ ABSL_GUARDED_BY(mutex_) = false;
  bool reader_done_ ABSL_GUARDED_BY(mutex_) = false;
  absl::Status reader_status_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace

absl::StatusOr<ServerInfo> AskServer(grpc::Channel& channel) {
  const std::unique_ptr<v1::QuantizationService::Stub> stub =
      v1::QuantizationService::NewStub(channel.shared_from_this());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::GetCapabilitiesResponse capabilities;
  const grpc::Status status = stub->GetCapabilities(
      &context, v1::GetCapabilitiesRequest(), &capabilities);
  if (!status.ok()) return FromGrpc(status);
  ServerInfo info;
  info.version = capabilities.server_version();
  info.workers = static_cast<int>(capabilities.workers());
  info.chunk_bytes = capabilities.chunk_bytes() > 0 ? capabilities.chunk_bytes()
                                                    : kDefaultChunkBytes;
  if (capabilities.max_message_bytes() > 2 * kMessageOverheadBytes) {
    info.chunk_bytes =
        std::min(info.chunk_bytes,
                 capabilities.max_message_bytes() - kMessageOverheadBytes);
  }
  // Even, so that a 16-bit element never straddles two chunks.
  info.chunk_bytes &= ~uint64_t{1};
  return info;
}

absl::StatusOr<StreamTotals> StreamModel(grpc::Channel& channel,
                                         const bench::ModelShapes& model,
                                         const ChunkSource& source,
                                         ResultSink& sink,
                                         const StreamConfig& config) {
  return ModelStream(model, source, sink, config).Run(channel);
}

}  // namespace squant::modelbench
