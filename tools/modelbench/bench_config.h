// What every squant-modelbench run shares: its settings and how it
// summarizes repeated timings.

#ifndef SQUANT_TOOLS_MODELBENCH_BENCH_CONFIG_H_
#define SQUANT_TOOLS_MODELBENCH_BENCH_CONFIG_H_

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/squant.h"
#include "tools/modelbench/model_stream.h"

namespace squant::modelbench {

struct BenchConfig {
  int reps = 5;
  uint64_t seed = 2022;
  QuantOptions quant{.bits = 4, .mode = Mode::kSquant};
  StreamConfig stream;   // its options match `quant`, packed
  int core_threads = 1;  // in-process runs: as many as the server's workers
};

// Seconds of each repetition.
class RunTimes {
 public:
  void Add(double seconds) { seconds_.push_back(seconds); }
  double best() const {
    return seconds_.empty()
               ? 0
               : *std::min_element(seconds_.begin(), seconds_.end());
  }
  // The lower median.
  double median() const {
    if (seconds_.empty()) return 0;
    std::vector<double> sorted = seconds_;
    std::sort(sorted.begin(), sorted.end());
    return sorted[(sorted.size() - 1) / 2];
  }

 private:
  std::vector<double> seconds_;
};

// CPU time (user + system) of this process so far, in seconds.
inline double ProcessCpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

}  // namespace squant::modelbench

#endif  // SQUANT_TOOLS_MODELBENCH_BENCH_CONFIG_H_
