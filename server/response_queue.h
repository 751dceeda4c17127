// A stream's finished layers waiting to be written, in order of completion,
// turned into serialized messages one at a time: a layer's LayerResult,
// then its values in LayerValues chunks, contiguously. Value bytes are not
// copied: a chunk's message refers to them in the layer, which it keeps
// alive until gRPC has sent it.

#ifndef SQUANT_SERVER_RESPONSE_QUEUE_H_
#define SQUANT_SERVER_RESPONSE_QUEUE_H_

#include <cstdint>
#include <deque>
#include <memory>

#include "absl/types/span.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/layer_job.h"
#include "squant/v1/quantization.pb.h"

namespace squant::server {

// A QuantizeModelResponse carrying LayerValues{layer_id, offset, values},
// serialized around `values` without copying them: the message holds
// `owner`, which keeps them alive, until gRPC has sent it.
grpc::ByteBuffer LayerValuesMessage(uint64_t layer_id, int64_t offset,
                                    absl::Span<const uint8_t> values,
                                    std::shared_ptr<const void> owner);

class ResponseQueue {
 public:
  explicit ResponseQueue(int64_t chunk_bytes) : chunk_bytes_(chunk_bytes) {}

  void Push(FinishedLayer layer);

  // Fills `message` with the next message and returns the value bytes it
  // carries; returns -1 when nothing is queued.
  int64_t Next(grpc::ByteBuffer& message);

  bool empty() const { return layers_.empty(); }
  // Value bytes queued and not yet taken by Next().
  int64_t pending_bytes() const { return pending_bytes_; }
  void Clear();

 private:
  const int64_t chunk_bytes_;
  // Shared with the messages in flight that refer to their values.
  std::deque<std::shared_ptr<FinishedLayer>> layers_;
  bool front_result_sent_ = false;
  int64_t front_offset_ = 0;
  int64_t pending_bytes_ = 0;
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_RESPONSE_QUEUE_H_
