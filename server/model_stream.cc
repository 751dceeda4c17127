#include "server/model_stream.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "proto/byte_buffer.h"
#include "server/logging.h"
#include "server/status_mapping.h"
#include "server/tsan_annotations.h"

namespace squant::server {

ModelStream::ModelStream(grpc::CallbackServerContext* context,
                         ServiceRuntime& runtime)
    : context_(context),
      runtime_(runtime),
      start_(absl::Now()),
      peer_(context->peer()),
      responses_(runtime.config.chunk_bytes) {
  runtime_.metrics.RpcStarted(RpcMethod::kQuantizeModel);
  const absl::Status admission = runtime_.calls.AdmitStream();
  Io io;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_activity_ = start_;
    if (admission.ok()) {
      admitted_ = true;
      runtime_.metrics.streams_in_flight().Increment();
    } else {
      Fail(admission);
    }
    io = NextIo();
  }
  // Registered once fully built: the registry calls in from other threads.
  runtime_.streams.Add(this);
  GrpcHandOff(this);  // gRPC runs the reactions after the constructor
  Run(io);
}

void ModelStream::Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }

void ModelStream::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void ModelStream::OnDone() {
  GrpcReaction(this);
  bool admitted;
  {
    // Also orders this thread after the constructor's for TSan, which
    // cannot see gRPC's own synchronization.
    std::lock_guard<std::mutex> lock(mu_);
    admitted = admitted_;
  }
  runtime_.streams.Remove(this);
  if (admitted) {
    runtime_.metrics.streams_in_flight().Decrement();
    runtime_.calls.StreamDone();
  }
  Unref();
}

void ModelStream::OnCancel() {
  GrpcReaction(this);
  Io io;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Fail(CancellationError());
    io = NextIo();
  }
  Run(io);
}

void ModelStream::OnReadDone(bool ok) {
  GrpcReaction(this);
  Io io;
  {
    std::lock_guard<std::mutex> lock(mu_);
    read_in_flight_ = false;
    if (state_ != State::kFinishing) {
      if (!ok) {
        // A failed read is a half-close, or a broken or cancelled call
        // (OnCancel says which).
        if (context_->IsCancelled()) {
          Fail(CancellationError());
        } else {
          HandleHalfClose();
        }
      } else {
        last_activity_ = absl::Now();
        runtime_.metrics.MessageReceived(RpcMethod::kQuantizeModel);
        if (absl::Status status = HandleRequest(); !status.ok()) Fail(status);
      }
    }
    io = NextIo();
  }
  Run(io);
}

absl::Status ModelStream::CancellationError() const {
  // The client's own timer usually fires first and cancels the call a little
  // before the server's copy of the deadline passes.
  constexpr absl::Duration kDeadlineSlack = absl::Seconds(1);
  if (absl::FromChrono(context_->deadline()) <= absl::Now() + kDeadlineSlack) {
    return ServiceError(ErrorReason::kDeadline,
                        "the client's deadline expired");
  }
  return ServiceError(ErrorReason::kCancelled,
                      "the client cancelled the stream");
}

absl::Status ModelStream::HandleRequest() {
  if (absl::Status status = request_.Read(request_bytes_); !status.ok()) {
    return status;
  }
  if (request_.is_chunk()) return HandleChunk();
  const v1::QuantizeModelRequest& request = request_.message();
  switch (request.kind_case()) {
    case v1::QuantizeModelRequest::kOptions:
      return HandleOptions(request.options());
    case v1::QuantizeModelRequest::kLayerHeader:
      return HandleHeader(request.layer_header());
    case v1::QuantizeModelRequest::kLayerChunk:  // is_chunk() above
    case v1::QuantizeModelRequest::KIND_NOT_SET:
      break;
  }
  return ServiceError(ErrorReason::kInvalidOptions,
                      "a request message carries nothing (no options, layer "
                      "header or chunk)");
}

absl::Status ModelStream::HandleOptions(const v1::ModelOptions& options) {
  if (state_ != State::kAwaitingOptions) {
    return ServiceError(ErrorReason::kInvalidOptions,
                        "ModelOptions sent twice; send it once, first");
  }
  absl::StatusOr<LayerOptions> defaults =
      ResolveOptions(ServerDefaultOptions(), options.defaults());
  if (!defaults.ok()) {
    return ServiceError(
        ErrorReason::kInvalidOptions,
        absl::StrCat("model options: ", defaults.status().message()));
  }
  defaults_ = *defaults;
  model_name_ = options.model_name();
  state_ = State::kReceiving;
  return absl::OkStatus();
}

absl::Status ModelStream::HandleHeader(const v1::LayerHeader& header) {
  const std::string label = LayerLabel(header.layer_id(), header.name());
  if (state_ == State::kAwaitingOptions) {
    return ServiceError(ErrorReason::kInvalidOptions,
                        absl::StrCat(label,
                                     ": announced before ModelOptions, "
                                     "which must be the first message"));
  }
  if (!announced_ids_.insert(header.layer_id()).second) {
    return ServiceError(ErrorReason::kDuplicateLayer,
                        absl::StrCat(label, ": layer id ", header.layer_id(),
                                     " was already announced on this stream"));
  }
  const LayerLimits limits{runtime_.config.max_layer_bytes,
                           runtime_.config.max_layer_channels};
  absl::StatusOr<LayerPlan> plan =
      PlanLayer(header.layer_id(), header.name(), header.shape(),
                header.dtype(), defaults_, header.overrides(), limits);
  if (!plan.ok()) return plan.status();
  IncomingLayer layer;
  absl::StatusOr<LayerBuffer> buffer = AllocateLayerBuffer(plan->input_bytes);
  if (!buffer.ok()) {
    return ServiceError(ErrorReason::kLayerTooLarge,
                        absl::StrCat(label, ": ", buffer.status().message()));
  }
  layer.buffer = *std::move(buffer);
  layer.plan = *std::move(plan);
  incoming_.emplace(header.layer_id(), std::move(layer));
  return absl::OkStatus();
}

absl::Status ModelStream::HandleChunk() {
  const uint64_t layer_id = request_.chunk_layer_id();
  if (state_ == State::kAwaitingOptions) {
    return ServiceError(ErrorReason::kInvalidOptions,
                        absl::StrCat("layer ", layer_id,
                                     ": chunk sent before ModelOptions, which "
                                     "must be the first message"));
  }
  auto it = incoming_.find(layer_id);
  if (it == incoming_.end()) {
    return ServiceError(
        ErrorReason::kUnknownLayer,
        absl::StrCat("layer ", layer_id, ": chunk for a layer ",
                     announced_ids_.contains(layer_id)
                         ? "whose bytes are all received already"
                         : "never announced by a LayerHeader"));
  }
  IncomingLayer& layer = it->second;
  const int64_t size = static_cast<int64_t>(request_.chunk_size());
  if (size > layer.plan.input_bytes - layer.received) {
    return ServiceError(
        ErrorReason::kByteCount,
        absl::StrCat(LayerLabel(layer.plan.layer_id, layer.plan.name), ": got ",
                     layer.received + size, " bytes; shape [",
                     absl::StrJoin(layer.plan.shape, ", "), "] of ",
                     DTypeName(layer.plan.dtype), " needs ",
                     layer.plan.input_bytes));
  }
  request_.CopyChunkTo(layer.buffer.get() + layer.received);
  layer.received += size;
  buffered_bytes_ += size;
  bytes_received_ += size;
  runtime_.budget.AddBuffered(size);
  runtime_.metrics.TensorBytesReceived(size);
  if (layer.received == layer.plan.input_bytes) {
    IncomingLayer complete = std::move(layer);
    incoming_.erase(it);
    StartQuantizing(std::move(complete));
  }
  return absl::OkStatus();
}

void ModelStream::HandleHalfClose() {
  if (!incoming_.empty()) {
    const IncomingLayer& layer = incoming_.begin()->second;
    Fail(ServiceError(
        ErrorReason::kIncompleteLayer,
        absl::StrCat(LayerLabel(layer.plan.layer_id, layer.plan.name),
                     ": the client half-closed after ", layer.received,
                     " of its ", layer.plan.input_bytes, " bytes",
                     incoming_.size() > 1 ? absl::StrCat(" (", incoming_.size(),
                                                         " layers incomplete)")
                                          : "")));
    return;
  }
  state_ = State::kHalfClosed;
}

void ModelStream::StartQuantizing(IncomingLayer layer) {
  ++jobs_in_flight_;
  runtime_.budget.LayerQueued();
  Ref();  // released by the job's completion
  LayerInput input;
  input.bytes = {layer.buffer.get(),
                 static_cast<size_t>(layer.plan.input_bytes)};
  input.owned = std::move(layer.buffer);
  StartLayerJob(
      runtime_.pool, runtime_.metrics, std::move(layer.plan), std::move(input),
      [this] { return cancelled_.load(std::memory_order_relaxed); },
      [this](LayerJobDone done) mutable {
        OnLayerDone(std::move(done));
        Unref();
      });
}

void ModelStream::OnLayerDone(LayerJobDone done) {
  Io io;
  {
    std::lock_guard<std::mutex> lock(mu_);
    --jobs_in_flight_;
    buffered_bytes_ -= done.input_bytes;
    runtime_.budget.ReleaseBuffered(done.input_bytes);
    runtime_.budget.LayerDone();
    if (state_ != State::kFinishing) {
      if (!done.layer.ok()) {
        Fail(done.layer.status());
      } else {
        ++layers_done_;
        elements_done_ += done.layer->result.stats().elements();
        responses_.Push(*std::move(done.layer));
      }
    }
    io = NextIo();
  }
  Run(io);
  // Streams paused on the global cap may read again.
  runtime_.streams.NotifyMemoryFreed();
}

void ModelStream::OnWriteDone(bool ok) {
  GrpcReaction(this);
  Io io;
  {
    std::lock_guard<std::mutex> lock(mu_);
    write_in_flight_ = false;
    if (ok) {
      runtime_.metrics.MessageSent(RpcMethod::kQuantizeModel);
      runtime_.metrics.TensorBytesSent(response_value_bytes_);
      bytes_sent_ += response_value_bytes_;
    } else {
      Fail(ServiceError(ErrorReason::kCancelled,
                        "a write failed: the client is gone"));
    }
    io = NextIo();
  }
  Run(io);
}

void ModelStream::OnMemoryFreed() {
  Io io;
  {
    std::lock_guard<std::mutex> lock(mu_);
    io = NextIo();
  }
  Run(io);
}

void ModelStream::CheckIdle(absl::Time now) {
  Io io;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Only time spent waiting on the client counts: not while the server
    // holds reads back, and not between complete layers.
    const absl::Duration idle = now - last_activity_;
    if (state_ == State::kReceiving && read_in_flight_ && !incoming_.empty() &&
        idle > runtime_.config.stream_idle_timeout) {
      const IncomingLayer& layer = incoming_.begin()->second;
      Fail(ServiceError(
          ErrorReason::kIdleTimeout,
          absl::StrCat(
              LayerLabel(layer.plan.layer_id, layer.plan.name),
              ": nothing received for ", absl::FormatDuration(idle), " with ",
              layer.received, " of its ", layer.plan.input_bytes,
              " bytes received (--stream_idle_timeout=",
              absl::FormatDuration(runtime_.config.stream_idle_timeout), ")")));
    }
    io = NextIo();
  }
  Run(io);
}

void ModelStream::Fail(const absl::Status& status) {
  if (state_ == State::kFinishing) return;
  state_ = State::kFinishing;
  cancelled_.store(true, std::memory_order_relaxed);
  // Layers still arriving are dropped now; queued ones are skipped by the
  // workers and release their bytes in OnLayerDone.
  for (const auto& [id, layer] : incoming_) {
    buffered_bytes_ -= layer.received;
    runtime_.budget.ReleaseBuffered(layer.received);
  }
  incoming_.clear();
  responses_.Clear();
  const grpc::Status grpc_status = ToGrpcStatus(status);
  finish_status_ = grpc_status;
  RecordEnd(grpc_status.error_code(), status);
}

void ModelStream::RecordEnd(grpc::StatusCode code, const absl::Status& status) {
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start_);
  runtime_.metrics.RpcHandled(RpcMethod::kQuantizeModel, code, seconds);
  if (status.ok()) {
    runtime_.metrics.ModelQuantized(seconds);
  } else {
    runtime_.metrics.Error(ReasonOf(status));
  }
  LogEvent("stream_end",
           {{"method", "QuantizeModel"},
            {"peer", peer_},
            {"model", model_name_},
            {"layers", layers_done_},
            {"elements", elements_done_},
            {"bytes_received", bytes_received_},
            {"bytes_sent", bytes_sent_},
            {"seconds", seconds},
            {"code", GrpcCodeName(code)},
            {"reason", status.ok() ? "" : ReasonLabel(ReasonOf(status))},
            {"message", status.message()}});
}

bool ModelStream::CanRead() const {
  const int64_t cap = runtime_.config.stream_buffer_bytes;
  // Over a cap, wait only for what will free memory by itself (queued
  // layers, pending writes); with nothing queued only reading can complete
  // a layer.
  const bool input_room = buffered_bytes_ <= cap || jobs_in_flight_ == 0;
  const bool output_room = responses_.pending_bytes() <= cap;
  return input_room && output_room && runtime_.budget.AllowsRead();
}

ModelStream::Io ModelStream::NextIo() {
  Io io;
  if (state_ == State::kFinishing) {
    if (finish_status_ && !finish_started_ && !write_in_flight_) {
      finish_started_ = true;
      io.finish = *finish_status_;
    }
    return io;
  }
  if (!write_in_flight_) {
    response_value_bytes_ = responses_.Next(response_);
    if (response_value_bytes_ >= 0) {
      write_in_flight_ = true;
      io.write = true;
    } else if (state_ == State::kHalfClosed && jobs_in_flight_ == 0) {
      v1::QuantizeModelResponse last;
      v1::ModelSummary& summary = *last.mutable_summary();
      summary.set_layers(layers_done_);
      summary.set_elements(elements_done_);
      summary.set_bytes_received(bytes_received_);
      summary.set_bytes_sent(bytes_sent_);
      summary.set_seconds(absl::ToDoubleSeconds(absl::Now() - start_));
      response_ = ToByteBuffer(last);
      state_ = State::kFinishing;
      finish_started_ = true;
      runtime_.metrics.MessageSent(RpcMethod::kQuantizeModel);
      RecordEnd(grpc::StatusCode::OK, absl::OkStatus());
      io.write_summary_and_finish = true;
      return io;
    }
  }
  if ((state_ == State::kAwaitingOptions || state_ == State::kReceiving) &&
      !read_in_flight_ && CanRead()) {
    read_in_flight_ = true;
    last_activity_ = absl::Now();  // a pause is not the client's idleness
    io.read = true;
  }
  return io;
}

void ModelStream::Run(const Io& io) {
  if (io.read || io.write || io.write_summary_and_finish || io.finish) {
    GrpcHandOff(this);
  }
  // Each operation was claimed under mu_ (its in-flight flag set), so none
  // is started twice, and the messages are not touched until it completes.
  if (io.write_summary_and_finish) {
    StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    return;
  }
  if (io.write) StartWrite(&response_);
  if (io.read) StartRead(&request_bytes_);
  if (io.finish) Finish(*io.finish);
}

}  // namespace squant::server
