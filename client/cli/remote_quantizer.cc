#include "client/cli/remote_quantizer.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/cli/exit_code.h"
#include "client/cli/page_release.h"
#include "client/cli/proto_conversions.h"
#include "client/cli/server_channel.h"
#include "grpcpp/client_context.h"
#include "proto/byte_buffer.h"
#include "squant/v1/quantization.grpc.pb.h"

namespace squant::cli {
namespace {

// Per stream: enough layers in flight to keep the server's workers busy
// while the next one uploads, few enough that layers spread over streams
// and a failed stream has little to resend.
constexpr int kMaxLayersInFlight = 4;
constexpr uint64_t kStreamWindowBytes = uint64_t{64} << 20;
constexpr uint64_t kDefaultChunkBytes = uint64_t{4} << 20;
// Room for a chunk's message framing under the server's message limit.
constexpr uint64_t kMessageOverheadBytes = 64 << 10;
// A stream half-closes after this many layers and its slot opens a new
// one: round_robin then places the new stream afresh, so load evens out
// over replicas that connected late, came back or were added. A slot's
// first stream is shorter still: round_robin picks only among replicas
// already connected, and at startup some are still connecting.
constexpr int kMaxLayersPerStream = 8;
constexpr int kMaxLayersPerFirstStream = 2;
// Streams in a row failing UNAVAILABLE before any layer finishes: then no
// replica is reachable.
constexpr int kMaxBarrenStreams = 6;

void SetDeadline(grpc::ClientContext& context, absl::Time deadline) {
  if (deadline != absl::InfiniteFuture()) {
    context.set_deadline(absl::ToChronoTime(deadline));
  }
}

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

absl::Status ServerError(const absl::Status& status) {
  return WithExitCode(
      absl::Status(status.code(), absl::StrCat("server: ", status.message())),
      status.code() == absl::StatusCode::kInvalidArgument ? ExitCode::kInput
                                                          : ExitCode::kServer);
}

struct ServerLimits {
  uint64_t chunk_bytes = kDefaultChunkBytes;
  uint64_t max_layer_bytes = 0;     // 0: unknown
  uint64_t max_layer_channels = 0;  // 0: unknown
};

absl::StatusOr<ServerLimits> AskLimits(v1::QuantizationService::Stub& stub,
                                       absl::Time deadline) {
  grpc::ClientContext context;
  SetDeadline(context, std::min(deadline, absl::Now() + absl::Seconds(30)));
  v1::GetCapabilitiesResponse capabilities;
  const grpc::Status status = stub.GetCapabilities(
      &context, v1::GetCapabilitiesRequest(), &capabilities);
  if (!status.ok()) {
    return WithExitCode(
        absl::Status(
            static_cast<absl::StatusCode>(status.error_code()),
            absl::StrCat("cannot reach the server: ", status.error_message())),
        ExitCode::kServer);
  }
  ServerLimits limits;
  if (capabilities.chunk_bytes() > 0) {
    limits.chunk_bytes = capabilities.chunk_bytes();
  }
  if (capabilities.max_message_bytes() > 2 * kMessageOverheadBytes) {
    limits.chunk_bytes =
        std::min(limits.chunk_bytes,
                 capabilities.max_message_bytes() - kMessageOverheadBytes);
  }
  limits.max_layer_bytes = capabilities.max_layer_bytes();
  limits.max_layer_channels = capabilities.max_layer_channels();
  return limits;
}

absl::Status CheckLimits(absl::Span<const LayerTask> tasks,
                         const ServerLimits& limits) {
  for (const LayerTask& task : tasks) {
    if (limits.max_layer_bytes > 0 &&
        task.data.size() > limits.max_layer_bytes) {
      return WithExitCode(
          absl::ResourceExhaustedError(absl::StrCat(
              "tensor '", task.tensor->name, "' is ", task.data.size(),
              " bytes, over the server's max_layer_bytes ",
              limits.max_layer_bytes, "; --exclude it or raise the limit")),
          ExitCode::kInput);
    }
    if (limits.max_layer_channels > 0 &&
        static_cast<uint64_t>(task.geometry.channels) >
            limits.max_layer_channels) {
      return WithExitCode(
          absl::ResourceExhaustedError(absl::StrCat(
              "tensor '", task.tensor->name, "' has ", task.geometry.channels,
              " output channels, over the server's max_layer_channels ",
              limits.max_layer_channels)),
          ExitCode::kInput);
    }
  }
  return absl::OkStatus();
}

// Everything the streams share. One mutex: it guards little, briefly.
class Run {
 public:
  Run(const RemoteOptions& options, absl::Span<const LayerTask> tasks,
      const ServerLimits& limits, QuantizedModelWriter& out, Progress& progress,
      std::vector<LayerReport>& reports)
      : options_(options),
        tasks_(tasks),
        limits_(limits),
        out_(out),
        progress_(progress),
        reports_(reports),
        attempts_(tasks.size(), 0) {
    for (size_t i = 0; i < tasks.size(); ++i) pending_.push_back(i);
  }

  absl::StatusOr<RemoteRunStats> Execute() {
    std::vector<std::thread> slots;
    for (int i = 0; i < options_.streams; ++i) {
      slots.emplace_back([this] { RunSlot(); });
    }
    for (std::thread& slot : slots) slot.join();
    absl::MutexLock lock(&mutex_);
    if (!fatal_.ok()) return fatal_;
    return RemoteRunStats{stream_retries_};
  }

 private:
  // One QuantizeModel call and the layers it carries.
  struct Session {
    grpc::ClientContext context;
    std::map<size_t, uint64_t> in_flight;  // task -> input bytes
    uint64_t in_flight_bytes = 0;
    bool reader_done = false;
    int max_layers = kMaxLayersPerStream;
    int layers_sent = 0;
    int layers_finished = 0;
  };

  // Opens streams one after another until no work is left.
  void RunSlot() {
    int barren_streams = 0;
    bool first_stream = true;
    while (true) {
      {
        absl::MutexLock lock(&mutex_);
        mutex_.Await(absl::Condition(
            +[](Run* run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run->mutex_) {
              return !run->fatal_.ok() || !run->pending_.empty() ||
                     run->finished_ == run->tasks_.size();
            },
            this));
        if (!fatal_.ok() || pending_.empty()) return;
      }
      Session session;
      if (first_stream) session.max_layers = kMaxLayersPerFirstStream;
      first_stream = false;
      const absl::Status status = RunSession(session);
      absl::MutexLock lock(&mutex_);
      if (!fatal_.ok()) return;
      if (status.ok() && session.in_flight.empty()) {
        barren_streams = 0;
        continue;
      }
      if (status.ok()) {
        SetFatal(WithExitCode(
            absl::InternalError(absl::StrCat(
                "server ended a stream OK without returning tensor '",
                tasks_[session.in_flight.begin()->first].tensor->name, "'")),
            ExitCode::kServer));
        return;
      }
      // A replica going away fails its streams UNAVAILABLE, or CANCELLED
      // for those it still runs as it stops (this client cancels only after
      // a fatal error, handled above): both are retried elsewhere.
      if (status.code() != absl::StatusCode::kUnavailable &&
          status.code() != absl::StatusCode::kCancelled) {
        SetFatal(ServerError(status));
        return;
      }
      barren_streams = session.layers_finished > 0 ? 1 : barren_streams + 1;
      ++stream_retries_;
      // Unfinished layers go back first, in their original order.
      for (auto it = session.in_flight.rbegin(); it != session.in_flight.rend();
           ++it) {
        if (++attempts_[it->first] >= options_.max_attempts_per_layer) {
          SetFatal(ServerError(absl::UnavailableError(absl::StrCat(
              "tensor '", tasks_[it->first].tensor->name, "' failed on ",
              attempts_[it->first], " streams; last: ", status.message()))));
          return;
        }
        pending_.push_front(it->first);
      }
      if (barren_streams >= kMaxBarrenStreams) {
        SetFatal(ServerError(absl::UnavailableError(
            absl::StrCat("no replica reachable after ", barren_streams,
                         " attempts; last: ", status.message()))));
        return;
      }
      // Back off before the next stream, so that round_robin sees a dead
      // replica's connection fail rather than routing to it again.
      const absl::Duration backoff = std::min(
          absl::Milliseconds(100) * (1 << barren_streams), absl::Seconds(2));
      mutex_.AwaitWithTimeout(
          absl::Condition(
              +[](Run* run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run->mutex_) {
                return !run->fatal_.ok();
              },
              this),
          backoff);
    }
  }

  absl::Status RunSession(Session& session) {
    SetDeadline(session.context, options_.deadline);
    {
      absl::MutexLock lock(&mutex_);
      if (!fatal_.ok()) return absl::CancelledError("run failed");
      live_contexts_.insert(&session.context);
    }
    std::unique_ptr<ModelStream> stream =
        OpenModelStream(*options_.channel, session.context);
    std::thread reader([&] { ReadResults(*stream, session); });

    // Every layer header carries its options in full, so the model's
    // defaults are left to the server.
    v1::QuantizeModelRequest request;
    request.mutable_options()->set_model_name("squant-cli");
    bool writable = stream->Write(ToByteBuffer(request));
    while (writable) {
      std::optional<size_t> task = NextTask(session);
      if (!task.has_value()) break;
      writable = SendLayer(*stream, *task);
    }
    if (writable) stream->WritesDone();
    reader.join();
    const grpc::Status status = stream->Finish();
    absl::MutexLock lock(&mutex_);
    live_contexts_.erase(&session.context);
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::DeadlineExceededError(absl::StrCat("--timeout expired with ",
                                                      tasks_.size() - finished_,
                                                      " tensors left"));
    }
    return FromGrpc(status);
  }

  // The next layer for `session` once it has room, or nothing when the
  // stream should half-close.
  std::optional<size_t> NextTask(Session& session) {
    absl::MutexLock lock(&mutex_);
    const auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
      if (!fatal_.ok() || session.reader_done || pending_.empty() ||
          session.layers_sent == session.max_layers) {
        return true;
      }
      if (session.in_flight.empty()) return true;
      return session.in_flight.size() < kMaxLayersInFlight &&
             session.in_flight_bytes + tasks_[pending_.front()].data.size() <=
                 kStreamWindowBytes;
    };
    mutex_.Await(absl::Condition(&ready));
    if (!fatal_.ok() || session.reader_done || pending_.empty() ||
        session.layers_sent == session.max_layers) {
      return std::nullopt;
    }
    ++session.layers_sent;
    const size_t task = pending_.front();
    pending_.pop_front();
    session.in_flight[task] = tasks_[task].data.size();
    session.in_flight_bytes += tasks_[task].data.size();
    return task;
  }

  // The chunks reference the input's mapping, which outlives the stream.
  bool SendLayer(ModelStream& stream, size_t index) {
    const LayerTask& task = tasks_[index];
    v1::QuantizeModelRequest request;
    v1::LayerHeader& header = *request.mutable_layer_header();
    header.set_layer_id(index);
    header.set_name(task.tensor->name);
    for (int64_t dim : task.tensor->shape) header.add_shape(dim);
    header.set_dtype(ToProto(task.dtype));
    *header.mutable_overrides() = ToProto(task.options, task.pack);
    if (!stream.Write(ToByteBuffer(request))) return false;
    for (uint64_t offset = 0; offset < task.data.size();
         offset += limits_.chunk_bytes) {
      const absl::Span<const uint8_t> piece =
          task.data.subspan(offset, limits_.chunk_bytes);
      if (!stream.Write(LayerChunkRequest(index, piece))) return false;
      ReleaseMappedPages(piece);
    }
    return true;
  }

  void ReadResults(ModelStream& stream, Session& session) {
    v1::QuantizeModelResponse response;
    // The layer whose values are arriving (a LayerResult announces it and
    // its values follow, never interleaved with another layer's).
    constexpr size_t kNone = ~size_t{0};
    size_t current = kNone;
    uint64_t received = 0;
    absl::Status status;
    while (status.ok() && stream.Read(&response)) {
      if (response.has_layer_result()) {
        absl::StatusOr<size_t> task =
            AcceptResult(response.layer_result(), session);
        if (!task.ok()) {
          status = task.status();
          break;
        }
        current = *task;
        received = 0;
      } else if (response.has_layer_values()) {
        const v1::LayerValues& values = response.layer_values();
        if (current == kNone || values.layer_id() != current ||
            values.offset() != received ||
            values.data().size() > tasks_[current].values_bytes() - received) {
          status = absl::InternalError(
              absl::StrCat("server sent values for layer ", values.layer_id(),
                           " at offset ", values.offset(), " out of sequence"));
          break;
        }
        status = out_.WriteValues(
            current, received,
            absl::MakeConstSpan(
                reinterpret_cast<const uint8_t*>(values.data().data()),
                values.data().size()));
        received += values.data().size();
        if (status.ok() && received == tasks_[current].values_bytes()) {
          Finish(current, session);
          current = kNone;
        }
      }
    }
    absl::MutexLock lock(&mutex_);
    session.reader_done = true;
    if (!status.ok()) {
      SetFatal(ExitCodeOf(status) == ExitCode::kOutput
                   ? status
                   : WithExitCode(status, ExitCode::kServer));
    }
  }

  // Checks a LayerResult against what was sent and writes its scales.
  absl::StatusOr<size_t> AcceptResult(const v1::LayerResult& result,
                                      Session& session) {
    const uint64_t index = result.layer_id();
    {
      absl::MutexLock lock(&mutex_);
      if (!session.in_flight.contains(index)) {
        return absl::InternalError(absl::StrCat(
            "server returned layer ", index, " that this stream did not send"));
      }
    }
    const LayerTask& task = tasks_[index];
    const int64_t channels = task.geometry.channels;
    if (result.scale_size() != channels ||
        result.zero_point_size() != channels ||
        result.values_bytes() != task.values_bytes() ||
        static_cast<int>(result.bits()) != task.options.bits ||
        result.packed() != task.pack) {
      return absl::InternalError(
          absl::StrCat("server's result for tensor '", task.tensor->name,
                       "' does not match the request (bits ", result.bits(),
                       ", ", result.scale_size(), " scales, ",
                       result.values_bytes(), " value bytes)"));
    }
    const std::vector<int32_t> zero_point(result.zero_point().begin(),
                                          result.zero_point().end());
    absl::Status status = out_.WriteScaleAndZeroPoint(
        index, absl::MakeConstSpan(result.scale().data(), channels),
        zero_point);
    if (!status.ok()) return status;
    absl::MutexLock lock(&mutex_);
    reports_[index].stats = FromProto(result.stats());
    reports_[index].seconds = result.stats().quantize_seconds();
    reports_[index].worker = session.context.peer();
    return index;
  }

  void Finish(size_t task, Session& session) {
    {
      absl::MutexLock lock(&mutex_);
      session.in_flight_bytes -= session.in_flight[task];
      session.in_flight.erase(task);
      ++session.layers_finished;
      ++finished_;
    }
    progress_.LayerDone(tasks_[task].data.size());
  }

  void SetFatal(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (!fatal_.ok()) return;
    fatal_ = std::move(status);
    for (grpc::ClientContext* context : live_contexts_) context->TryCancel();
  }

  const RemoteOptions& options_;
  const absl::Span<const LayerTask> tasks_;
  const ServerLimits limits_;
  QuantizedModelWriter& out_;
  Progress& progress_;
  std::vector<LayerReport>& reports_;

  absl::Mutex mutex_;
  std::deque<size_t> pending_ ABSL_GUARDED_BY(mutex_);
  std::vector<int> attempts_ ABSL_GUARDED_BY(mutex_);
  size_t finished_ ABSL_GUARDED_BY(mutex_) = 0;
  int stream_retries_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::Status fatal_ ABSL_GUARDED_BY(mutex_);
  std::set<grpc::ClientContext*> live_contexts_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace

absl::StatusOr<RemoteRunStats> QuantizeRemotely(
    const RemoteOptions& options, absl::Span<const LayerTask> tasks,
    QuantizedModelWriter& out, Progress& progress,
    std::vector<LayerReport>& reports) {
  if (tasks.empty()) return RemoteRunStats{};
  std::unique_ptr<v1::QuantizationService::Stub> stub =
      v1::QuantizationService::NewStub(options.channel);
  absl::StatusOr<ServerLimits> limits = AskLimits(*stub, options.deadline);
  if (!limits.ok()) return limits.status();
  if (absl::Status status = CheckLimits(tasks, *limits); !status.ok()) {
    return status;
  }
  Run run(options, tasks, *limits, out, progress, reports);
  return run.Execute();
}

}  // namespace squant::cli
