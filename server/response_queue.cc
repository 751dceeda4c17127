#include "server/response_queue.h"

#include <algorithm>
#include <utility>

namespace squant::server {

void ResponseQueue::Push(FinishedLayer layer) {
  pending_bytes_ += layer.value_bytes().size();
  layers_.push_back(std::move(layer));
}

int64_t ResponseQueue::Next(v1::QuantizeModelResponse& message) {
  if (layers_.empty()) return -1;
  FinishedLayer& front = layers_.front();
  if (!front_result_sent_) {
    front_result_sent_ = true;
    front_offset_ = 0;
    front_layer_id_ = front.result.layer_id();
    *message.mutable_layer_result() = std::move(front.result);
    return 0;
  }
  const absl::Span<const uint8_t> values = front.value_bytes();
  const int64_t size = std::min<int64_t>(
      chunk_bytes_, static_cast<int64_t>(values.size()) - front_offset_);
  v1::LayerValues& chunk = *message.mutable_layer_values();
  chunk.set_layer_id(front_layer_id_);
  chunk.set_offset(front_offset_);
  chunk.set_data(values.data() + front_offset_, size);
  front_offset_ += size;
  pending_bytes_ -= size;
  if (front_offset_ == static_cast<int64_t>(values.size())) {
    layers_.pop_front();
    front_result_sent_ = false;
  }
  return size;
}

void ResponseQueue::Clear() {
  layers_.clear();
  front_result_sent_ = false;
  pending_bytes_ = 0;
}

}  // namespace squant::server
