// Helpers shared by the fault and TLS tests: /metrics readings of a server
// process, a healthy-stream check, and the built binaries' paths.

#ifndef SQUANT_TESTS_RELIABILITY_RELIABILITY_UTIL_H_
#define SQUANT_TESTS_RELIABILITY_RELIABILITY_UTIL_H_

#include <string>
#include <vector>

#include "tests/server/test_util.h"

namespace squant::reliability {

// The value of `series` on the server's /metrics, or -1 if absent.
double Metric(server::testing::ServerProcess& server,
              const std::string& series);

// The sum of every series of the metric `name` (all label values).
double MetricSum(server::testing::ServerProcess& server,
                 const std::string& name);

// Waits until the server holds no buffered bytes and no open stream.
bool AwaitIdle(server::testing::ServerProcess& server,
               absl::Duration timeout = absl::Seconds(15));

// Quantizes a small two-layer model through the server and checks every
// value against the core library (gtest expectations).
void ExpectServesCorrectly(int port);

// Whether the bytes a server sent are the core's int8 values.
bool SameValues(const std::vector<uint8_t>& received,
                const std::vector<int8_t>& core);

// The "code" of every stream_end line of a server's JSON log.
std::vector<std::string> StreamEndCodes(const std::string& log);

}  // namespace squant::reliability

#endif  // SQUANT_TESTS_RELIABILITY_RELIABILITY_UTIL_H_
