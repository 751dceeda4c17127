#include "tests/reliability/fuzz/stream_oracle.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/squant.h"

namespace squant::reliability {
namespace {

using grpc::StatusCode;

constexpr int kMaxPackedBits = 4;

// The contract's option rules: unset fields inherit `base`.
std::optional<EffectiveOptions> Resolve(const EffectiveOptions& base,
                                        const v1::QuantizationOptions& given) {
  EffectiveOptions options = base;
  if (given.bits() != 0) {
    if (given.bits() < 2 || given.bits() > 8) return std::nullopt;
    options.bits = given.bits();
  }
  if (given.mode() != v1::MODE_UNSPECIFIED) {
    if (given.mode() < v1::MODE_SQUANT || given.mode() > v1::MODE_SQUANT_E) {
      return std::nullopt;
    }
    options.mode = given.mode();
  }
  if (given.grid() != v1::GRID_UNSPECIFIED) {
    if (given.grid() != v1::GRID_ASYMMETRIC &&
        given.grid() != v1::GRID_SYMMETRIC) {
      return std::nullopt;
    }
    options.grid = given.grid();
  }
  if (given.has_pack()) options.pack = given.pack();
  if (options.pack && options.bits > kMaxPackedBits) return std::nullopt;
  return options;
}

int ElementSize(v1::Dtype dtype) { return dtype == v1::DTYPE_F32 ? 4 : 2; }

bool AllFinite(const std::string& bytes, v1::Dtype dtype) {
  for (size_t at = 0; at + ElementSize(dtype) <= bytes.size();
       at += ElementSize(dtype)) {
    if (dtype == v1::DTYPE_F32) {
      uint32_t bits;
      std::memcpy(&bits, bytes.data() + at, sizeof(bits));
      if ((bits & 0x7f800000u) == 0x7f800000u) return false;
    } else {
      uint16_t bits;
      std::memcpy(&bits, bytes.data() + at, sizeof(bits));
      const uint16_t exponent = dtype == v1::DTYPE_F16 ? 0x7c00 : 0x7f80;
      if ((bits & exponent) == exponent) return false;
    }
  }
  return true;
}

int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t elements = 1;
  for (int64_t dim : shape) elements *= dim;
  return elements;
}

int64_t ValueBytes(const ExpectedLayer& layer) {
  const int64_t elements = Elements(layer.shape);
  if (!layer.options.pack) return elements;
  const int64_t row = elements / layer.shape[0];
  return layer.shape[0] * ((row + 1) / 2);
}

// Codes a header may be refused with, or nullopt when it is acceptable.
std::optional<std::set<StatusCode>> HeaderCodes(const v1::LayerHeader& header,
                                                const ServerLimits& limits) {
  if (header.dtype() != v1::DTYPE_F32 && header.dtype() != v1::DTYPE_F16 &&
      header.dtype() != v1::DTYPE_BF16) {
    return std::set{StatusCode::INVALID_ARGUMENT};
  }
  if (header.shape_size() < 2) return std::set{StatusCode::INVALID_ARGUMENT};
  bool bad_dimension = false;
  bool too_large = header.shape(0) > limits.max_layer_channels;
  __int128 bytes = ElementSize(header.dtype());
  for (int64_t dim : header.shape()) {
    if (dim < 1) {
      bad_dimension = true;
    } else if (!too_large) {
      // Past the limit the product no longer matters (and could overflow
      // even 128 bits): only the remaining dimensions' signs do.
      bytes *= dim;
      if (bytes > limits.max_layer_bytes) too_large = true;
    }
  }
  // Which check a server makes first is not part of the contract.
  if (bad_dimension && too_large) {
    return std::set{StatusCode::INVALID_ARGUMENT,
                    StatusCode::RESOURCE_EXHAUSTED};
  }
  if (bad_dimension) return std::set{StatusCode::INVALID_ARGUMENT};
  if (too_large) return std::set{StatusCode::RESOURCE_EXHAUSTED};
  return std::nullopt;
}

std::string CodesText(const std::set<StatusCode>& codes) {
  return absl::StrJoin(codes, ",", [](std::string* out, StatusCode code) {
    absl::StrAppend(out, static_cast<int>(code));
  });
}

Mode CoreMode(v1::Mode mode) {
  switch (mode) {
    case v1::MODE_SQUANT_K:
      return Mode::kSquantK;
    case v1::MODE_SQUANT_C:
      return Mode::kSquantC;
    case v1::MODE_SQUANT_E:
      return Mode::kSquantE;
    default:
      return Mode::kSquant;
  }
}

DType CoreDType(v1::Dtype dtype) {
  return dtype == v1::DTYPE_F16    ? DType::kF16
         : dtype == v1::DTYPE_BF16 ? DType::kBF16
                                   : DType::kF32;
}

// Empty when `received` is the core library's result for `layer`.
std::string CompareWithCore(const ExpectedLayer& layer,
                            const server::testing::ReceivedLayer& received) {
  const std::string label = absl::StrCat("layer ", layer.id, ": ");
  WeightTensor weights;
  weights.dtype = CoreDType(layer.dtype);
  weights.shape = layer.shape;
  weights.data = {reinterpret_cast<const uint8_t*>(layer.bytes.data()),
                  layer.bytes.size()};
  QuantOptions options;
  options.bits = static_cast<int>(layer.options.bits);
  options.mode = CoreMode(layer.options.mode);
  options.grid = layer.options.grid == v1::GRID_SYMMETRIC ? Grid::kSymmetric
                                                          : Grid::kAsymmetric;
  absl::StatusOr<QuantizedLayer> core = Quantize(weights, options);
  if (!core.ok()) {
    return absl::StrCat(label, "the server returned it but the core says ",
                        core.status().ToString());
  }
  std::vector<uint8_t> values;
  if (layer.options.pack) {
    values = PackInt4(core->values, core->geometry);
  } else {
    values.assign(core->values.begin(), core->values.end());
  }
  if (received.values != values) return absl::StrCat(label, "values differ");
  const v1::LayerResult& result = received.result;
  if (result.scale_size() != static_cast<int>(core->scale.size()) ||
      std::memcmp(result.scale().data(), core->scale.data(),
                  core->scale.size() * sizeof(float)) != 0) {
    return absl::StrCat(label, "scales differ");
  }
  if (!std::equal(result.zero_point().begin(), result.zero_point().end(),
                  core->zero_point.begin(), core->zero_point.end())) {
    return absl::StrCat(label, "zero points differ");
  }
  return "";
}

std::string CheckLayer(const ExpectedLayer& expected,
                       const server::testing::ReceivedLayer& received) {
  const v1::LayerResult& result = received.result;
  const std::string label = absl::StrCat("layer ", expected.id, ": ");
  if (result.name() != expected.name) return label + "wrong name";
  if (!std::equal(result.shape().begin(), result.shape().end(),
                  expected.shape.begin(), expected.shape.end())) {
    return label + "wrong shape";
  }
  if (result.bits() != expected.options.bits ||
      result.mode() != expected.options.mode ||
      result.grid() != expected.options.grid ||
      result.packed() != expected.options.pack) {
    return absl::StrCat(label, "options in effect ", result.bits(), "/",
                        result.mode(), "/", result.grid(), "/", result.packed(),
                        ", expected ", expected.options.bits, "/",
                        expected.options.mode, "/", expected.options.grid, "/",
                        expected.options.pack);
  }
  if (static_cast<int64_t>(result.values_bytes()) != ValueBytes(expected) ||
      received.values.size() != result.values_bytes()) {
    return absl::StrCat(label, "values_bytes ", result.values_bytes(),
                        ", received ", received.values.size(), ", expected ",
                        ValueBytes(expected));
  }
  if (result.stats().elements() !=
      static_cast<uint64_t>(Elements(expected.shape))) {
    return label + "wrong element count in stats";
  }
  return CompareWithCore(expected, received);
}

}  // namespace

Expectation Predict(const Script& script, const ServerLimits& limits) {
  Expectation expectation;
  std::optional<EffectiveOptions> defaults;  // set once ModelOptions arrives
  absl::flat_hash_set<uint64_t> announced;
  std::map<uint64_t, ExpectedLayer> incoming;
  std::vector<ExpectedLayer> complete;
  bool non_finite = false;  // a complete layer holds NaN/Inf: fails later

  auto fail = [&](std::set<StatusCode> codes, std::string reason) {
    expectation.codes = std::move(codes);
    expectation.reason = std::move(reason);
  };
  for (const v1::QuantizeModelRequest& request : script.requests) {
    if (!expectation.codes.empty()) break;
    switch (request.kind_case()) {
      case v1::QuantizeModelRequest::kOptions:
        if (defaults) {
          fail({StatusCode::INVALID_ARGUMENT}, "options sent twice");
        } else if (!(defaults = Resolve(EffectiveOptions{},
                                        request.options().defaults()))) {
          fail({StatusCode::INVALID_ARGUMENT}, "invalid model options");
        }
        break;
      case v1::QuantizeModelRequest::kLayerHeader: {
        const v1::LayerHeader& header = request.layer_header();
        const std::string label = absl::StrCat("layer ", header.layer_id());
        if (!defaults) {
          fail({StatusCode::INVALID_ARGUMENT}, label + " before options");
        } else if (!announced.insert(header.layer_id()).second) {
          fail({StatusCode::INVALID_ARGUMENT}, label + " announced twice");
        } else if (std::optional<EffectiveOptions> options =
                       Resolve(*defaults, header.overrides());
                   !options) {
          fail({StatusCode::INVALID_ARGUMENT}, label + ": invalid overrides");
        } else if (auto codes = HeaderCodes(header, limits)) {
          fail(*codes, label + ": bad or too large shape/dtype");
        } else {
          incoming[header.layer_id()] =
              ExpectedLayer{header.layer_id(),
                            header.name(),
                            {header.shape().begin(), header.shape().end()},
                            header.dtype(),
                            *options,
                            {}};
        }
        break;
      }
      case v1::QuantizeModelRequest::kLayerChunk: {
        const v1::LayerChunk& chunk = request.layer_chunk();
        const std::string label = absl::StrCat("layer ", chunk.layer_id());
        auto it = incoming.find(chunk.layer_id());
        if (!defaults) {
          fail({StatusCode::INVALID_ARGUMENT},
               label + ": chunk before options");
          break;
        }
        if (it == incoming.end()) {
          fail({StatusCode::INVALID_ARGUMENT},
               label + ": chunk for an unknown or complete layer");
          break;
        }
        ExpectedLayer& layer = it->second;
        const size_t needed = Elements(layer.shape) * ElementSize(layer.dtype);
        if (layer.bytes.size() + chunk.data().size() > needed) {
          fail({StatusCode::INVALID_ARGUMENT}, label + ": too many bytes");
          break;
        }
        layer.bytes += chunk.data();
        if (layer.bytes.size() == needed) {
          if (AllFinite(layer.bytes, layer.dtype)) {
            complete.push_back(std::move(layer));
          } else {
            non_finite = true;
          }
          incoming.erase(it);
        }
        break;
      }
      case v1::QuantizeModelRequest::KIND_NOT_SET:
        fail({StatusCode::INVALID_ARGUMENT}, "an empty request");
        break;
    }
  }
  if (expectation.codes.empty() && script.end == StreamEnd::kHalfClose) {
    if (!incoming.empty()) {
      fail({StatusCode::INVALID_ARGUMENT},
           absl::StrCat("layer ", incoming.begin()->first,
                        " incomplete at half-close"));
    } else if (non_finite) {
      fail({StatusCode::INVALID_ARGUMENT}, "a layer holds NaN or Inf");
    }
  }
  // Failures found by the workers may come before any later one.
  if (non_finite && !expectation.codes.empty()) {
    expectation.codes.insert(StatusCode::INVALID_ARGUMENT);
  }
  if (script.end == StreamEnd::kCancel) {
    expectation.codes.insert(StatusCode::CANCELLED);
    if (expectation.reason.empty()) expectation.reason = "client cancelled";
  }
  expectation.ok = expectation.codes.empty();
  if (expectation.ok) expectation.layers = std::move(complete);
  return expectation;
}

std::string CheckOutcome(const Expectation& expected,
                         const server::testing::ModelOutcome& outcome) {
  if (!outcome.protocol_error.empty()) {
    return "responses broke the contract: " + outcome.protocol_error;
  }
  const StatusCode code = outcome.status.error_code();
  const std::string status_text =
      absl::StrCat("code ", static_cast<int>(code), " \"",
                   outcome.status.error_message(), "\"");
  if (!expected.ok) {
    if (!expected.codes.contains(code)) {
      return absl::StrCat("ended with ", status_text, "; expected one of {",
                          CodesText(expected.codes), "} (", expected.reason,
                          ")");
    }
    if (code != StatusCode::CANCELLED &&
        outcome.status.error_message().empty()) {
      return absl::StrCat("error ", status_text, " without a message");
    }
    return "";
  }
  if (code != StatusCode::OK) {
    return absl::StrCat("ended with ", status_text, "; expected OK with ",
                        expected.layers.size(), " layers");
  }
  if (!outcome.summary) return "ended OK without a ModelSummary";
  if (outcome.summary->layers() != expected.layers.size() ||
      outcome.layers.size() != expected.layers.size()) {
    return absl::StrCat("ended OK with ", outcome.layers.size(),
                        " layers (summary: ", outcome.summary->layers(),
                        "), expected ", expected.layers.size());
  }
  absl::flat_hash_map<uint64_t, const ExpectedLayer*> pending;
  uint64_t input_bytes = 0;
  for (const ExpectedLayer& layer : expected.layers) {
    pending[layer.id] = &layer;
    input_bytes += layer.bytes.size();
  }
  for (const server::testing::ReceivedLayer& received : outcome.layers) {
    auto it = pending.find(received.result.layer_id());
    if (it == pending.end()) {
      return absl::StrCat("layer ", received.result.layer_id(),
                          " returned but not expected, or twice");
    }
    if (std::string error = CheckLayer(*it->second, received); !error.empty()) {
      return error;
    }
    pending.erase(it);
  }
  if (outcome.summary->bytes_received() != input_bytes) {
    return absl::StrCat("summary counts ", outcome.summary->bytes_received(),
                        " bytes received, the client sent ", input_bytes);
  }
  return "";
}

}  // namespace squant::reliability
