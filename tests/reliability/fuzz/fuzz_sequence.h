// The byte format the QuantizeModel fuzzer reads: a sequence of steps of a
// client's conversation (options, headers, chunks, whole layers, empty
// messages, half-close, cancel), decoded into the requests to send.
//
// Format, read front to back; a read past the end yields zeros, so every
// byte string is a valid script:
//   step := op:u8 (op % 7 selects)
//     0 options : options_fields name
//     1 header  : id name rank:u8 (%8) dim* dtype:u8 (%5) options_fields
//     2 chunk   : id length:u16le (%4097) source:u8 (even: that many raw
//                 input bytes; odd: generated values, seed:u8)
//     3 fill    : id chunks:u8 (1 + %8) fill:u8 (%6, see Fill) seed:u8 —
//                 the rest of that layer's bytes, in `chunks` chunks
//     4 an empty request (no oneof field set)
//     5 half-close (the end)      6 cancel (the end)
//   id  := u8, or 0xff then u64le (huge ids)
//   dim := u8 below 0xf0 (the dimension itself), else i64le (negative,
//          zero, huge: products that overflow)
//   options_fields := bits:u8 mode:u8 grid:u8 pack:u8 — bits % 12, mode % 6,
//          grid % 4 (so out-of-range values occur), a byte >= 0xf0 making
//          the field a large unknown value; pack % 3 = unset, false, true
//   name := length:u8 (%16) then that many bytes mapped to [a-z0-9._]
// The end of the input is a half-close.

#ifndef SQUANT_TESTS_RELIABILITY_FUZZ_FUZZ_SEQUENCE_H_
#define SQUANT_TESTS_RELIABILITY_FUZZ_FUZZ_SEQUENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "squant/v1/quantization.pb.h"

namespace squant::reliability {

enum class StreamEnd { kHalfClose, kCancel };

struct Script {
  std::vector<v1::QuantizeModelRequest> requests;
  StreamEnd end = StreamEnd::kHalfClose;
};

// Values a fill step writes (each encoded in the layer's dtype).
enum class Fill : uint8_t {
  kNormal = 0,     // N(0, 1)
  kConstant = 1,   // one value: degenerate channels
  kTinyRange = 2,  // 1 + tiny noise
  kExtreme = 3,    // the dtype's largest finite magnitudes
  kNaN = 4,        // normal values with one NaN
  kInf = 5,        // normal values with one +-Inf
};

// Keeps a decoded script small enough to run in milliseconds.
inline constexpr int kMaxRequests = 96;
inline constexpr int64_t kMaxScriptBytes = int64_t{4} << 20;

Script DecodeScript(absl::Span<const uint8_t> input);

// Option field bytes as the format encodes them.
struct OptionBytes {
  uint8_t bits = 0;
  uint8_t mode = 0;
  uint8_t grid = 0;
  uint8_t pack = 0;  // 0 unset, 1 false, 2 true
};

// Writes inputs in the format above, for the seed corpus and tests.
class ScriptWriter {
 public:
  using Options = OptionBytes;

  ScriptWriter& SendOptions(Options options, const std::string& name = "m");
  // `dims` as the format's dim bytes would decode them.
  ScriptWriter& SendHeader(uint64_t id, const std::string& name,
                           const std::vector<int64_t>& dims, uint8_t dtype,
                           Options overrides = {});
  ScriptWriter& SendRawChunk(uint64_t id, const std::string& bytes);
  ScriptWriter& SendGeneratedChunk(uint64_t id, uint16_t length, uint8_t seed);
  ScriptWriter& FillLayer(uint64_t id, uint8_t chunks, Fill fill,
                          uint8_t seed = 1);
  ScriptWriter& SendEmpty();
  ScriptWriter& HalfClose();
  ScriptWriter& Cancel();

  const std::string& bytes() const { return bytes_; }

 private:
  void Byte(uint8_t value) { bytes_.push_back(static_cast<char>(value)); }
  void Little(uint64_t value, int size);
  void Id(uint64_t id);
  void Name(const std::string& name);
  void OptionFields(Options options);

  std::string bytes_;
};

}  // namespace squant::reliability

#endif  // SQUANT_TESTS_RELIABILITY_FUZZ_FUZZ_SEQUENCE_H_
