// What a correct server must answer to a fuzzed QuantizeModel script,
// derived from the contract in proto/squant/v1/quantization.proto alone
// (not from the server's code), and the check of an actual outcome.

#ifndef SQUANT_TESTS_RELIABILITY_FUZZ_STREAM_ORACLE_H_
#define SQUANT_TESTS_RELIABILITY_FUZZ_STREAM_ORACLE_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "squant/v1/quantization.pb.h"
#include "tests/reliability/fuzz/fuzz_sequence.h"
#include "tests/server/test_util.h"

namespace squant::reliability {

struct ServerLimits {
  int64_t max_layer_bytes = 0;
  int64_t max_layer_channels = 0;
};

// Options in effect for a layer, in the proto's terms.
struct EffectiveOptions {
  uint32_t bits = 4;
  v1::Mode mode = v1::MODE_SQUANT;
  v1::Grid grid = v1::GRID_ASYMMETRIC;
  bool pack = false;
};

struct ExpectedLayer {
  uint64_t id = 0;
  std::string name;
  std::vector<int64_t> shape;
  v1::Dtype dtype = v1::DTYPE_F32;
  EffectiveOptions options;
  std::string bytes;  // the input, as sent
};

struct Expectation {
  // True: the stream must end OK having returned exactly `layers`.
  bool ok = false;
  std::vector<ExpectedLayer> layers;
  // When !ok: the codes the stream may end with, and why it must fail.
  std::set<grpc::StatusCode> codes;
  std::string reason;
};

Expectation Predict(const Script& script, const ServerLimits& limits);

// Empty when `outcome` is one `expected` allows; else what is wrong. An OK
// outcome's values must equal the core library's for the same bytes.
std::string CheckOutcome(const Expectation& expected,
                         const server::testing::ModelOutcome& outcome);

}  // namespace squant::reliability

#endif  // SQUANT_TESTS_RELIABILITY_FUZZ_STREAM_ORACLE_H_
