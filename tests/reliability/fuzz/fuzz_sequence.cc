#include "tests/reliability/fuzz/fuzz_sequence.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>

#include "absl/container/flat_hash_map.h"

namespace squant::reliability {
namespace {

class Reader {
 public:
  explicit Reader(absl::Span<const uint8_t> input) : input_(input) {}

  bool done() const { return at_ >= input_.size(); }
  uint8_t Byte() { return at_ < input_.size() ? input_[at_++] : 0; }
  uint64_t Little(int size) {
    uint64_t value = 0;
    for (int i = 0; i < size; ++i) value |= uint64_t{Byte()} << (8 * i);
    return value;
  }
  std::string Raw(size_t size) {
    size = std::min(size, input_.size() - std::min(at_, input_.size()));
    std::string bytes(reinterpret_cast<const char*>(input_.data() + at_), size);
    at_ += size;
    return bytes;
  }

 private:
  absl::Span<const uint8_t> input_;
  size_t at_ = 0;
};

constexpr char kNameAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789._";
constexpr uint8_t kWideMarker = 0xf0;  // dims and option fields
constexpr uint8_t kWideId = 0xff;

uint64_t ReadId(Reader& reader) {
  const uint8_t id = reader.Byte();
  return id == kWideId ? reader.Little(8) : id;
}

std::string ReadName(Reader& reader) {
  std::string name(reader.Byte() % 16, ' ');
  for (char& c : name)
    c = kNameAlphabet[reader.Byte() % (sizeof(kNameAlphabet) - 1)];
  return name;
}

// Mostly small values, some just out of range, some far out.
uint32_t Field(uint8_t byte, uint32_t modulo) {
  return byte >= kWideMarker ? 1000u + byte : byte % modulo;
}

void ReadOptionFields(Reader& reader, v1::QuantizationOptions& options) {
  const uint8_t bits = reader.Byte(), mode = reader.Byte(),
                grid = reader.Byte(), pack = reader.Byte();
  options.set_bits(Field(bits, 12));
  options.set_mode(static_cast<v1::Mode>(Field(mode, 6)));
  options.set_grid(static_cast<v1::Grid>(Field(grid, 4)));
  if (pack % 3 != 0) options.set_pack(pack % 3 == 2);
}

int ElementSize(v1::Dtype dtype) {
  return dtype == v1::DTYPE_F16 || dtype == v1::DTYPE_BF16 ? 2 : 4;
}

uint16_t F16Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint16_t sign = (bits >> 16) & 0x8000;
  const uint32_t exponent = (bits >> 23) & 0xff;
  const uint32_t mantissa = bits & 0x7fffff;
  if (exponent == 0xff) return sign | 0x7c00 | (mantissa != 0 ? 0x200 : 0);
  const int biased = static_cast<int>(exponent) - 127 + 15;
  if (biased >= 31) return sign | 0x7bff;  // saturates to 65504
  if (biased <= 0) return sign;            // flushes to zero
  return sign | (biased << 10) | (mantissa >> 13);
}

void AppendValue(float value, v1::Dtype dtype, std::string& out) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  uint16_t half = 0;
  switch (dtype) {
    case v1::DTYPE_F16:
      half = F16Bits(value);
      break;
    case v1::DTYPE_BF16:
      half = static_cast<uint16_t>(bits >> 16);
      break;
    default:
      out.append(reinterpret_cast<const char*>(&bits), sizeof(bits));
      return;
  }
  out.append(reinterpret_cast<const char*>(&half), sizeof(half));
}

// `size` bytes of `fill` values in `dtype` (the last value cut if `size`
// is not a whole number of them).
std::string Values(Fill fill, v1::Dtype dtype, int64_t size, uint8_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t count = (size + ElementSize(dtype) - 1) / ElementSize(dtype);
  const int64_t odd_one = count > 0 ? static_cast<int64_t>(rng() % count) : 0;
  std::string out;
  out.reserve(count * ElementSize(dtype));
  for (int64_t i = 0; i < count; ++i) {
    float value = normal(rng);
    switch (fill) {
      case Fill::kConstant:
        value = (static_cast<int>(seed) - 128) / 16.0f;
        break;
      case Fill::kTinyRange:
        value = 1.0f + static_cast<float>(rng() % 3) * 1e-7f;
        break;
      case Fill::kExtreme:
        value = (rng() % 2 ? 1 : -1) * std::numeric_limits<float>::max();
        break;
      case Fill::kNaN:
        if (i == odd_one) value = std::numeric_limits<float>::quiet_NaN();
        break;
      case Fill::kInf:
        if (i == odd_one) {
          value = (seed % 2 ? 1 : -1) * std::numeric_limits<float>::infinity();
        }
        break;
      case Fill::kNormal:
        break;
    }
    AppendValue(value, dtype, out);
  }
  out.resize(size);
  return out;
}

// What the decoder knows of an announced layer, to fill the rest of it.
struct Announced {
  v1::Dtype dtype = v1::DTYPE_F32;
  int64_t expected_bytes = -1;  // -1: invalid or too big to send
  int64_t sent_bytes = 0;
};

int64_t ExpectedBytes(const v1::LayerHeader& header) {
  int64_t bytes = ElementSize(header.dtype());
  for (int64_t dim : header.shape()) {
    if (dim < 1 || dim > kMaxScriptBytes || bytes * dim > kMaxScriptBytes) {
      return -1;
    }
    bytes *= dim;
  }
  return header.shape_size() >= 2 ? bytes : -1;
}

}  // namespace

Script DecodeScript(absl::Span<const uint8_t> input) {
  Script script;
  Reader reader(input);
  absl::flat_hash_map<uint64_t, Announced> layers;
  int64_t script_bytes = 0;
  auto chunk = [&](uint64_t id, std::string data) {
    if (auto it = layers.find(id); it != layers.end()) {
      it->second.sent_bytes += data.size();
    }
    script_bytes += data.size();
    v1::QuantizeModelRequest& request = script.requests.emplace_back();
    request.mutable_layer_chunk()->set_layer_id(id);
    request.mutable_layer_chunk()->set_data(std::move(data));
  };
  while (!reader.done() &&
         static_cast<int>(script.requests.size()) < kMaxRequests &&
         script_bytes < kMaxScriptBytes) {
    switch (reader.Byte() % 7) {
      case 0: {
        v1::ModelOptions& options =
            *script.requests.emplace_back().mutable_options();
        ReadOptionFields(reader, *options.mutable_defaults());
        options.set_model_name(ReadName(reader));
        break;
      }
      case 1: {
        v1::LayerHeader& header =
            *script.requests.emplace_back().mutable_layer_header();
        header.set_layer_id(ReadId(reader));
        header.set_name(ReadName(reader));
        const int rank = reader.Byte() % 8;
        for (int d = 0; d < rank; ++d) {
          const uint8_t dim = reader.Byte();
          header.add_shape(
              dim < kWideMarker ? dim : static_cast<int64_t>(reader.Little(8)));
        }
        header.set_dtype(static_cast<v1::Dtype>(reader.Byte() % 5));
        ReadOptionFields(reader, *header.mutable_overrides());
        layers[header.layer_id()] = {header.dtype(), ExpectedBytes(header), 0};
        break;
      }
      case 2: {
        const uint64_t id = ReadId(reader);
        const uint16_t length = reader.Little(2) % 4097;
        if (reader.Byte() % 2 == 0) {
          chunk(id, reader.Raw(length));
        } else {
          auto it = layers.find(id);
          chunk(id,
                Values(Fill::kNormal,
                       it == layers.end() ? v1::DTYPE_F32 : it->second.dtype,
                       length, reader.Byte()));
        }
        break;
      }
      case 3: {
        const uint64_t id = ReadId(reader);
        const int chunks = 1 + reader.Byte() % 8;
        const Fill fill = static_cast<Fill>(reader.Byte() % 6);
        const uint8_t seed = reader.Byte();
        auto it = layers.find(id);
        const int64_t remaining =
            it == layers.end() || it->second.expected_bytes < 0
                ? 0
                : it->second.expected_bytes - it->second.sent_bytes;
        if (remaining <= 0) {  // nothing to fill: a stray chunk
          chunk(id, std::string(4, '\0'));
          break;
        }
        const std::string values =
            Values(fill, it->second.dtype, remaining, seed);
        for (int i = 0; i < chunks; ++i) {
          const int64_t begin = remaining * i / chunks;
          const int64_t end = remaining * (i + 1) / chunks;
          chunk(id, values.substr(begin, end - begin));
        }
        break;
      }
      case 4:
        script.requests.emplace_back();
        break;
      case 5:
        return script;
      case 6:
        script.end = StreamEnd::kCancel;
        return script;
    }
  }
  return script;
}

void ScriptWriter::Little(uint64_t value, int size) {
  for (int i = 0; i < size; ++i) Byte(static_cast<uint8_t>(value >> (8 * i)));
}

void ScriptWriter::Id(uint64_t id) {
  if (id < kWideId) {
    Byte(static_cast<uint8_t>(id));
  } else {
    Byte(kWideId);
    Little(id, 8);
  }
}

void ScriptWriter::Name(const std::string& name) {
  Byte(static_cast<uint8_t>(name.size() % 16));
  for (size_t i = 0; i < name.size() % 16; ++i) {
    const char* at = std::strchr(kNameAlphabet, name[i]);
    Byte(at != nullptr && *at != '\0' ? at - kNameAlphabet : 0);
  }
}

void ScriptWriter::OptionFields(Options options) {
  Byte(options.bits);
  Byte(options.mode);
  Byte(options.grid);
  Byte(options.pack);
}

ScriptWriter& ScriptWriter::SendOptions(Options options,
                                        const std::string& name) {
  Byte(0);
  OptionFields(options);
  Name(name);
  return *this;
}

ScriptWriter& ScriptWriter::SendHeader(uint64_t id, const std::string& name,
                                       const std::vector<int64_t>& dims,
                                       uint8_t dtype, Options overrides) {
  Byte(1);
  Id(id);
  Name(name);
  Byte(static_cast<uint8_t>(dims.size()));
  for (int64_t dim : dims) {
    if (dim >= 0 && dim < kWideMarker) {
      Byte(static_cast<uint8_t>(dim));
    } else {
      Byte(kWideMarker);
      Little(static_cast<uint64_t>(dim), 8);
    }
  }
  Byte(dtype);
  OptionFields(overrides);
  return *this;
}

ScriptWriter& ScriptWriter::SendRawChunk(uint64_t id,
                                         const std::string& bytes) {
  Byte(2);
  Id(id);
  Little(bytes.size(), 2);
  Byte(0);
  bytes_ += bytes;
  return *this;
}

ScriptWriter& ScriptWriter::SendGeneratedChunk(uint64_t id, uint16_t length,
                                               uint8_t seed) {
  Byte(2);
  Id(id);
  Little(length, 2);
  Byte(1);
  Byte(seed);
  return *this;
}

ScriptWriter& ScriptWriter::FillLayer(uint64_t id, uint8_t chunks, Fill fill,
                                      uint8_t seed) {
  Byte(3);
  Id(id);
  Byte(static_cast<uint8_t>(chunks - 1));
  Byte(static_cast<uint8_t>(fill));
  Byte(seed);
  return *this;
}

ScriptWriter& ScriptWriter::SendEmpty() {
  Byte(4);
  return *this;
}

ScriptWriter& ScriptWriter::HalfClose() {
  Byte(5);
  return *this;
}

ScriptWriter& ScriptWriter::Cancel() {
  Byte(6);
  return *this;
}

}  // namespace squant::reliability
