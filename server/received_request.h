// A QuantizeModelRequest as gRPC delivered it, read without copying a
// LayerChunk's tensor bytes: in the layout protobuf libraries write
// (LayerChunk{layer_id, data}, fields in order, nothing else) the chunk is
// not parsed, and its bytes go from gRPC's buffer straight into the layer
// being assembled (one copy instead of two). Any other message, or a chunk
// laid out otherwise, is parsed with protobuf as usual.

#ifndef SQUANT_SERVER_RECEIVED_REQUEST_H_
#define SQUANT_SERVER_RECEIVED_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "squant/v1/quantization.pb.h"

namespace squant::server {

class ReceivedRequest {
 public:
  // Takes the message out of `buffer` (which is left empty); a raw chunk's
  // bytes stay referenced until the next Read(). Fails with
  // INVALID_ARGUMENT (reason invalid_options) when the bytes are not a
  // QuantizeModelRequest.
  absl::Status Read(grpc::ByteBuffer& buffer);

  // The message, parsed; for a chunk, only when is_raw_chunk() is false.
  const v1::QuantizeModelRequest& message() const { return message_; }
  bool is_chunk() const;
  // A LayerChunk whose bytes are still in gRPC's buffer.
  bool is_raw_chunk() const { return raw_chunk_; }

  // For a chunk, raw or parsed: its layer id, its size, and its bytes
  // copied to `out` (which has room for chunk_size() bytes).
  uint64_t chunk_layer_id() const;
  size_t chunk_size() const;
  void CopyChunkTo(uint8_t* out) const;

 private:
  // Recognizes a raw chunk in `slices_`; false leaves it to protobuf.
  bool ReadRawChunk(size_t total_bytes);

  v1::QuantizeModelRequest message_;
  bool raw_chunk_ = false;
  std::vector<grpc::Slice> slices_;  // the raw chunk's message
  uint64_t raw_layer_id_ = 0;
  size_t raw_data_offset_ = 0;  // where the bytes start in the message
  size_t raw_data_size_ = 0;
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_RECEIVED_REQUEST_H_
