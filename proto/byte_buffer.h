// A message as the gRPC byte buffer that raw-bytes streams write: the
// server's and the CLI's QuantizeModel streams carry serialized messages
// next to buffers they build around large fields without copying them.

#ifndef SQUANT_PROTO_BYTE_BUFFER_H_
#define SQUANT_PROTO_BYTE_BUFFER_H_

#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/byte_buffer.h"

namespace squant {

template <typename Message>
grpc::ByteBuffer ToByteBuffer(const Message& message) {
  grpc::ByteBuffer buffer;
  bool own_buffer = false;
  // Serializing a message that fits in memory cannot fail.
  (void)grpc::SerializationTraits<Message>::Serialize(message, &buffer,
                                                      &own_buffer);
  return buffer;
}

}  // namespace squant

#endif  // SQUANT_PROTO_BYTE_BUFFER_H_
