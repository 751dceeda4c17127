#include "safetensors/safetensors.h"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace squant::safetensors {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/" + name;
}

// A file made of a raw header text and `data_bytes` zero bytes of data.
std::vector<uint8_t> RawFile(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> file(8 + header.size() + data_bytes, 0);
  const uint64_t length = header.size();
  std::memcpy(file.data(), &length, 8);
  std::memcpy(file.data() + 8, header.data(), header.size());
  return file;
}

TEST(SafetensorsTest, WritesInAnyOrderAndReadsBack) {
  const std::string path = TempPath("roundtrip.safetensors");
  const std::vector<float> weight = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -1.0f};
  const std::vector<int8_t> q = {1, -2, 3, 4};
  {
    absl::StatusOr<Writer> writer = Writer::Create(
        path, {{"w", "F32", {2, 3}}, {"q", "I8", {4}}}, {{"method", "squant"}});
    ASSERT_TRUE(writer.ok()) << writer.status();
    // Second tensor first, first tensor in two pieces.
    ASSERT_TRUE(writer->Write(1, 0, absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(q.data()), q.size())).ok());
    const auto* bytes = reinterpret_cast<const uint8_t*>(weight.data());
    ASSERT_TRUE(writer->Write(0, 12, absl::MakeConstSpan(bytes + 12, 12)).ok());
    ASSERT_TRUE(writer->Write(0, 0, absl::MakeConstSpan(bytes, 12)).ok());
    EXPECT_EQ(writer->Write(0, 20, absl::MakeConstSpan(bytes, 8)).code(),
              absl::StatusCode::kOutOfRange);
    ASSERT_TRUE(writer->Close().ok());
  }
  absl::StatusOr<MappedFile> file = MappedFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata().at("method"), "squant");
  EXPECT_EQ(file->header().data_offset % 8, 0u);
  const TensorInfo* w = file->Find("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, "F32");
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 3}));
  absl::Span<const uint8_t> data = file->Data(*w);
  ASSERT_EQ(data.size(), 24u);
  EXPECT_EQ(std::memcmp(data.data(), weight.data(), 24), 0);
  const TensorInfo* q_info = file->Find("q");
  ASSERT_NE(q_info, nullptr);
  EXPECT_EQ(std::memcmp(file->Data(*q_info).data(), q.data(), 4), 0);
  EXPECT_EQ(file->Find("missing"), nullptr);
}

TEST(SafetensorsTest, RejectsMalformedHeadersWithClearErrors) {
  struct Case {
    std::string header;
    size_t data_bytes;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"{\"a\":", 0, "not valid JSON"},
      {"[1,2]", 0, "not a JSON object"},
      {R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}})", 2,
       "unknown dtype 'Q4'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4,
       "need 8 bytes"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 2,
       "truncated"},
      {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8,
       "starts at 4"},
      {R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
       R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
       6, "overlap"},
      {R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", 1,
       "non-negative"},
      {R"({"a":{"dtype":"U8","shape":[4294967296,4294967296,4294967296],)"
       R"("data_offsets":[0,1]}})",
       1, "too large"},
      {R"({"a":{"dtype":"U8","shape":[1]}})", 1, "data_offsets"},
      {R"({"__metadata__":{"k":1}})", 0, "not a string"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Header> header =
        ParseHeader(RawFile(c.header, c.data_bytes));
    EXPECT_EQ(header.status().code(), absl::StatusCode::kInvalidArgument)
        << c.header;
    EXPECT_THAT(header.status().message(), HasSubstr(c.message)) << c.header;
  }
  std::vector<uint8_t> short_file = {1, 2, 3};
  EXPECT_THAT(ParseHeader(short_file).status().message(), HasSubstr("shorter"));
  std::vector<uint8_t> huge_length = RawFile("{}", 0);
  huge_length[7] = 0x7f;
  EXPECT_THAT(ParseHeader(huge_length).status().message(),
              HasSubstr("exceeds the file"));
}

TEST(SafetensorsTest, OpenNamesTheFileInErrors) {
  const std::string path = TempPath("truncated.safetensors");
  std::vector<uint8_t> file =
      RawFile(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 16);
  file.resize(file.size() - 3);
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(file.data()), file.size());
  absl::StatusOr<MappedFile> mapped = MappedFile::Open(path);
  EXPECT_EQ(mapped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mapped.status().message(), HasSubstr(path));
  EXPECT_EQ(MappedFile::Open(TempPath("absent")).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace squant::safetensors
