// squant-cli's zero-copy QuantizeModel requests (client/cli/server_channel.h):
// the bytes LayerChunkRequest builds around a tensor are exactly what
// protobuf would serialize, and the server quantizes a layer sent that way
// as the core library does.

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "client/cli/server_channel.h"
#include "gtest/gtest.h"
#include "proto/byte_buffer.h"
#include "tests/server/test_util.h"

namespace squant::server::testing {
namespace {

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

TEST(RawRequestTest, LayerChunkRequestIsTheProtobufSerialization) {
  const std::vector<uint8_t> data = RandomF32(100000, 3);
  for (uint64_t id :
       {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128},
        uint64_t{1} << 40, std::numeric_limits<uint64_t>::max()}) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{127}, size_t{128},
                        size_t{16383}, size_t{16384}, data.size()}) {
      v1::QuantizeModelRequest want;
      want.mutable_layer_chunk()->set_layer_id(id);
      want.mutable_layer_chunk()->set_data(data.data(), size);
      const std::string bytes = Flatten(
          cli::LayerChunkRequest(id, absl::MakeConstSpan(data.data(), size)));
      EXPECT_EQ(bytes, want.SerializeAsString())
          << "id " << id << ", " << size << " bytes";
      v1::QuantizeModelRequest parsed;
      ASSERT_TRUE(parsed.ParseFromString(bytes));
      EXPECT_EQ(parsed.layer_chunk().layer_id(), id);
      EXPECT_EQ(parsed.layer_chunk().data().size(), size);
    }
  }
}

TEST(RawRequestTest, ALayerSentInRawChunksMatchesTheCore) {
  std::unique_ptr<SquantServer> server = StartServer(TestConfig());
  ASSERT_NE(server, nullptr);
  std::shared_ptr<grpc::Channel> channel = MakeChannel(server->port());
  const LayerToSend layer = RandomLayer(7, {64, 32, 3, 3}, 11);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  std::unique_ptr<cli::ModelStream> stream =
      cli::OpenModelStream(*channel, context);

  v1::QuantizeModelRequest request;
  request.mutable_options()->mutable_defaults()->set_bits(4);
  ASSERT_TRUE(stream->Write(ToByteBuffer(request)));
  v1::LayerHeader& header = *request.mutable_layer_header();
  header.set_layer_id(layer.id);
  header.set_name(layer.name);
  header.mutable_shape()->Assign(layer.shape.begin(), layer.shape.end());
  header.set_dtype(v1::DTYPE_F32);
  ASSERT_TRUE(stream->Write(ToByteBuffer(request)));
  // Uneven chunks, so that they do not line up with channels or frames.
  const absl::Span<const uint8_t> bytes = layer.bytes;
  constexpr size_t kChunk = 10007;
  for (size_t offset = 0; offset < bytes.size(); offset += kChunk) {
    ASSERT_TRUE(stream->Write(
        cli::LayerChunkRequest(layer.id, bytes.subspan(offset, kChunk))));
  }
  ASSERT_TRUE(stream->WritesDone());

  std::string values;
  v1::QuantizeModelResponse response;
  while (stream->Read(&response)) {
    if (response.has_layer_values()) values += response.layer_values().data();
  }
  const grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  QuantOptions options;
  options.bits = 4;
  const QuantizedLayer want = CoreQuantize(layer, options);
  ASSERT_EQ(values.size(), want.values.size());
  EXPECT_EQ(std::memcmp(values.data(), want.values.data(), values.size()), 0);
}

}  // namespace
}  // namespace squant::server::testing
