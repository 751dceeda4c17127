// What a quantize run did: the per-tensor table people read, and the JSON
// scripts read.

#ifndef SQUANT_CLIENT_CLI_REPORT_H_
#define SQUANT_CLIENT_CLI_REPORT_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "client/cli/selection.h"
#include "core/squant.h"

namespace squant::cli {

struct LayerReport {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype;
  QuantOptions options;
  bool packed = false;
  LayerStats stats;
  double seconds = 0;  // quantization time (the server's, when remote)
  std::string worker;  // "local" or the server's address
};

struct RunReport {
  std::string input;
  std::string output;
  std::string target;  // "local" or the --server value
  int streams = 0;
  int stream_retries = 0;           // streams restarted after UNAVAILABLE
  std::vector<LayerReport> layers;  // in the input's order
  int copied_tensors = 0;
  uint64_t input_bytes = 0;   // of the quantized tensors
  uint64_t output_bytes = 0;  // of their qweight, scale and zero_point
  double wall_seconds = 0;
};

// A report entry for `task` before its statistics are known.
LayerReport ReportFor(const LayerTask& task);

// The human-readable table, one row per tensor, then totals.
void PrintTable(const RunReport& report, std::FILE* out);

// The same as one JSON object.
std::string ReportJson(const RunReport& report);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_REPORT_H_
