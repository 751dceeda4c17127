#include "server/response_queue.h"

#include <algorithm>
#include <string>
#include <utility>

#include "grpcpp/support/slice.h"
#include "proto/byte_buffer.h"
#include "server/wire_format.h"

namespace squant::server {
namespace {

// A slice of bytes kept alive by a reference to their owner.
grpc::Slice OwnedSlice(absl::Span<const uint8_t> bytes,
                       std::shared_ptr<const void> owner) {
  auto* held = new std::shared_ptr<const void>(std::move(owner));
  // gRPC only reads the bytes; its API takes them as non-const.
  return grpc::Slice(
      const_cast<uint8_t*>(bytes.data()), bytes.size(),
      [](void* held) {
        delete static_cast<std::shared_ptr<const void>*>(held);
      },
      held);
}

}  // namespace

grpc::ByteBuffer LayerValuesMessage(uint64_t layer_id, int64_t offset,
                                    absl::Span<const uint8_t> values,
                                    std::shared_ptr<const void> owner) {
  // QuantizeModelResponse{layer_values (2): LayerValues{layer_id (1),
  // offset (2), data (3)}}: the bytes before the values, then the values.
  std::string values_head;
  wire::AppendVarintField(1, layer_id, values_head);
  wire::AppendVarintField(2, offset, values_head);
  if (!values.empty()) {
    wire::AppendLengthDelimitedHead(3, values.size(), values_head);
  }
  std::string head;
  wire::AppendLengthDelimitedHead(2, values_head.size() + values.size(), head);
  head += values_head;
  if (values.empty()) {
    grpc::Slice slice(head);
    return grpc::ByteBuffer(&slice, 1);
  }
  grpc::Slice slices[] = {grpc::Slice(head),
                          OwnedSlice(values, std::move(owner))};
  return grpc::ByteBuffer(slices, 2);
}

void ResponseQueue::Push(FinishedLayer layer) {
  pending_bytes_ += layer.value_bytes().size();
  layers_.push_back(std::make_shared<FinishedLayer>(std::move(layer)));
}

int64_t ResponseQueue::Next(grpc::ByteBuffer& message) {
  if (layers_.empty()) return -1;
  const std::shared_ptr<FinishedLayer>& front = layers_.front();
  if (!front_result_sent_) {
    front_result_sent_ = true;
    front_offset_ = 0;
    v1::QuantizeModelResponse response;
    *response.mutable_layer_result() = std::move(front->result);
    message = ToByteBuffer(response);
    // Only its id is needed from here on.
    front->result.set_layer_id(response.layer_result().layer_id());
    return 0;
  }
  const absl::Span<const uint8_t> values = front->value_bytes();
  const int64_t size = std::min<int64_t>(
      chunk_bytes_, static_cast<int64_t>(values.size()) - front_offset_);
  message = LayerValuesMessage(front->result.layer_id(), front_offset_,
                               values.subspan(front_offset_, size), front);
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
