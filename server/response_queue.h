// A stream's finished layers waiting to be written, in order of completion,
// turned into messages one at a time: a layer's LayerResult, then its
// values in LayerValues chunks, contiguously. Value bytes are copied once,
// from the layer into the chunk message.

#ifndef SQUANT_SERVER_RESPONSE_QUEUE_H_
#define SQUANT_SERVER_RESPONSE_QUEUE_H_

#include <cstdint>
#include <deque>

#include "server/layer_job.h"
#include "squant/v1/quantization.pb.h"

namespace squant::server {

class ResponseQueue {
 public:
  explicit ResponseQueue(int64_t chunk_bytes) : chunk_bytes_(chunk_bytes) {}

  void Push(FinishedLayer layer);

  // Fills `message` with the next message and returns the value bytes it
  // carries; returns -1 when nothing is queued.
  int64_t Next(v1::QuantizeModelResponse& message);

  bool empty() const { return layers_.empty(); }
  // Value bytes queued and not yet taken by Next().
  int64_t pending_bytes() const { return pending_bytes_; }
  void Clear();

 private:
  const int64_t chunk_bytes_;
  std::deque<FinishedLayer> layers_;
  bool front_result_sent_ = false;
  uint64_t front_layer_id_ = 0;
  int64_t front_offset_ = 0;
  int64_t pending_bytes_ = 0;
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_RESPONSE_QUEUE_H_
