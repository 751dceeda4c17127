// One QuantizeModel stream: a ServerBidiReactor with a visible state
// machine.
//
//   kAwaitingOptions --options--> kReceiving --half-close--> kHalfClosed
//          |                          |                          |
//          +--------- error, cancel, deadline, idle ------------+--> kFinishing
//   kHalfClosed --all layers written--> summary + OK --> kFinishing
//
// Reading: one StartRead at a time, issued only while the stream's and the
// server's memory budgets allow (backpressure through HTTP/2 flow control).
// Messages arrive and leave as raw bytes (the method is registered raw) so
// that tensor bytes are copied once on the way in (ReceivedRequest) and not
// at all on the way out (ResponseQueue).
// Complete layers go to the worker pool; results are written one
// StartWrite at a time from a ResponseQueue, in order of completion.
// gRPC may run a reaction inline from StartRead/StartWrite/Finish, so those
// are only called with mu_ released (see Io).

#ifndef SQUANT_SERVER_MODEL_STREAM_H_
#define SQUANT_SERVER_MODEL_STREAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/layer_buffer.h"
#include "server/layer_job.h"
#include "server/layer_plan.h"
#include "server/received_request.h"
#include "server/response_queue.h"
#include "server/service_runtime.h"
#include "server/stream_registry.h"
#include "squant/v1/quantization.pb.h"

namespace squant::server {

class ModelStream final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
      public RegisteredStream {
 public:
  // Deletes itself once gRPC is done with it and no worker holds it.
  ModelStream(grpc::CallbackServerContext* context, ServiceRuntime& runtime);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  void Ref() override;
  void Unref() override;
  void OnMemoryFreed() override;
  void CheckIdle(absl::Time now) override;

 private:
  enum class State { kAwaitingOptions, kReceiving, kHalfClosed, kFinishing };

  // A layer whose bytes are arriving, assembled in one buffer sized from
  // its header (allocated, not touched: pages cost memory as bytes land).
  struct IncomingLayer {
    LayerPlan plan;
    LayerBuffer buffer;
    int64_t received = 0;
  };

  // Stream operations decided under mu_ and started after releasing it.
  struct Io {
    bool read = false;
    bool write = false;
    bool write_summary_and_finish = false;
    std::optional<grpc::Status> finish;
  };

  ~ModelStream() override = default;

  absl::Status HandleRequest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // CANCELLED, or DEADLINE_EXCEEDED when the client's deadline has passed.
  absl::Status CancellationError() const;
  absl::Status HandleOptions(const v1::ModelOptions& options)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status HandleHeader(const v1::LayerHeader& header)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status HandleChunk() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleHalfClose() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartQuantizing(IncomingLayer layer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnLayerDone(LayerJobDone done);

  // Ends the stream with `status` (no-op once finishing): stops its work,
  // frees its memory, records and logs the end.
  void Fail(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordEnd(grpc::StatusCode code, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool CanRead() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Io NextIo() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run(const Io& io);

  grpc::CallbackServerContext* const context_;
  ServiceRuntime& runtime_;
  const absl::Time start_;
  const std::string peer_;
  bool admitted_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int> refs_{1};  // gRPC's, dropped in OnDone
  std::atomic<bool> cancelled_{false};

  std::mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kAwaitingOptions;
  LayerOptions defaults_ ABSL_GUARDED_BY(mu_);
  std::string model_name_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer request_bytes_ ABSL_GUARDED_BY(mu_);
  ReceivedRequest request_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer response_ ABSL_GUARDED_BY(mu_);
  int64_t response_value_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool read_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_started_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> finish_status_ ABSL_GUARDED_BY(mu_);
  absl::Time last_activity_ ABSL_GUARDED_BY(mu_);

  absl::flat_hash_map<uint64_t, IncomingLayer> incoming_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> announced_ids_ ABSL_GUARDED_BY(mu_);
  int64_t buffered_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // received, unquantized
  int jobs_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  ResponseQueue responses_ ABSL_GUARDED_BY(mu_);

  // For the summary and the end-of-stream log line.
  int64_t layers_done_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t elements_done_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bytes_received_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t bytes_sent_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_MODEL_STREAM_H_
