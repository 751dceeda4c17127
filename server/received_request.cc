#include "server/received_request.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "grpcpp/impl/codegen/proto_utils.h"
#include "server/status_mapping.h"
#include "server/wire_format.h"

namespace squant::server {
namespace {

// QuantizeModelRequest.layer_chunk, LayerChunk.layer_id, LayerChunk.data.
constexpr uint8_t kLayerChunkTag = wire::Tag(3, wire::kLengthDelimited);
constexpr uint8_t kLayerIdTag = wire::Tag(1, wire::kVarint);
constexpr uint8_t kDataTag = wire::Tag(2, wire::kLengthDelimited);
// The tags and lengths before a chunk's data: 3 tags and 3 varints of at
// most 10 bytes each.
constexpr size_t kMaxHeadBytes = 33;

// Reads the bytes of a message's first kMaxHeadBytes.
class HeadReader {
 public:
  HeadReader(const uint8_t* bytes, size_t size) : bytes_(bytes), size_(size) {}

  size_t position() const { return position_; }
  bool at_end() const { return position_ == size_; }
  bool Skip(uint8_t tag) {
    if (position_ >= size_ || bytes_[position_] != tag) return false;
    ++position_;
    return true;
  }
  std::optional<uint64_t> Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64 && position_ < size_; shift += 7) {
      const uint8_t byte = bytes_[position_++];
      value |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return std::nullopt;
  }

 private:
  const uint8_t* const bytes_;
  const size_t size_;
  size_t position_ = 0;
};

}  // namespace

absl::Status ReceivedRequest::Read(grpc::ByteBuffer& buffer) {
  raw_chunk_ = false;
  slices_.clear();
  if (buffer.Dump(&slices_).ok()) {
    size_t total_bytes = 0;
    for (const grpc::Slice& slice : slices_) total_bytes += slice.size();
    if (ReadRawChunk(total_bytes)) {
      buffer.Clear();
      return absl::OkStatus();
    }
  }
  slices_.clear();
  if (!grpc::SerializationTraits<v1::QuantizeModelRequest>::Deserialize(
           &buffer, &message_)
           .ok()) {
    return ServiceError(ErrorReason::kInvalidOptions,
                        "a request message is not a valid "
                        "QuantizeModelRequest");
  }
  return absl::OkStatus();
}

bool ReceivedRequest::ReadRawChunk(size_t total_bytes) {
  uint8_t head[kMaxHeadBytes];
  size_t head_size = 0;
  for (const grpc::Slice& slice : slices_) {
    const size_t take = std::min(slice.size(), kMaxHeadBytes - head_size);
    std::memcpy(head + head_size, slice.begin(), take);
    head_size += take;
    if (head_size == kMaxHeadBytes) break;
  }
  HeadReader reader(head, head_size);
  if (!reader.Skip(kLayerChunkTag)) return false;
  const std::optional<uint64_t> chunk_size = reader.Varint();
  if (!chunk_size || *chunk_size != total_bytes - reader.position()) {
    return false;
  }
  raw_layer_id_ = 0;
  if (reader.Skip(kLayerIdTag)) {
    const std::optional<uint64_t> id = reader.Varint();
    if (!id) return false;
    raw_layer_id_ = *id;
  }
  raw_data_size_ = 0;
  if (reader.position() < total_bytes) {  // else: an empty chunk
    if (!reader.Skip(kDataTag)) return false;
    const std::optional<uint64_t> data_size = reader.Varint();
    if (!data_size || *data_size != total_bytes - reader.position()) {
      return false;
    }
    raw_data_size_ = *data_size;
  }
  raw_data_offset_ = reader.position();
  raw_chunk_ = true;
  return true;
}

bool ReceivedRequest::is_chunk() const {
  return raw_chunk_ || message_.has_layer_chunk();
}

uint64_t ReceivedRequest::chunk_layer_id() const {
  return raw_chunk_ ? raw_layer_id_ : message_.layer_chunk().layer_id();
}

size_t ReceivedRequest::chunk_size() const {
  return raw_chunk_ ? raw_data_size_ : message_.layer_chunk().data().size();
}

void ReceivedRequest::CopyChunkTo(uint8_t* out) const {
  if (!raw_chunk_) {
    const std::string& data = message_.layer_chunk().data();
    std::memcpy(out, data.data(), data.size());
    return;
  }
  size_t skip = raw_data_offset_;
  for (const grpc::Slice& slice : slices_) {
    if (skip >= slice.size()) {
      skip -= slice.size();
      continue;
    }
    const size_t size = slice.size() - skip;
    std::memcpy(out, slice.begin() + skip, size);
    out += size;
    skip = 0;
  }
}

}  // namespace squant::server
