// The few pieces of the protocol-buffer wire format needed to write a
// message around a large `bytes` field without copying the field: the
// bytes before it are built here, the field's own bytes are sent as they
// are. Header-only: squant-cli builds its LayerChunk requests with it too.
// Like protobuf, fields holding zero are left out.

#ifndef SQUANT_SERVER_WIRE_FORMAT_H_
#define SQUANT_SERVER_WIRE_FORMAT_H_

#include <cstdint>
#include <string>

namespace squant::wire {

enum WireType : uint8_t { kVarint = 0, kLengthDelimited = 2 };

// A field's tag, one byte for fields 1 to 15.
constexpr uint8_t Tag(int field, WireType type) {
  return static_cast<uint8_t>(field << 3 | type);
}

inline void AppendVarint(uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

// A varint field (wire type 0), left out when `value` is 0.
inline void AppendVarintField(int field, uint64_t value, std::string& out) {
  if (value == 0) return;
  AppendVarint(static_cast<uint64_t>(field) << 3 | kVarint, out);
  AppendVarint(value, out);
}

// The tag and length of a length-delimited field (wire type 2) whose
// `length` bytes follow.
inline void AppendLengthDelimitedHead(int field, uint64_t length,
                                      std::string& out) {
  AppendVarint(static_cast<uint64_t>(field) << 3 | kLengthDelimited, out);
  AppendVarint(length, out);
}

}  // namespace squant::wire

#endif  // SQUANT_SERVER_WIRE_FORMAT_H_
