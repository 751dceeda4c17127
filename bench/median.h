// The median the benchmarks print: of an even count, the upper of the two
// middle values.

#ifndef SQUANT_BENCH_MEDIAN_H_
#define SQUANT_BENCH_MEDIAN_H_

#include <algorithm>
#include <vector>

namespace squant::bench {

inline double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace squant::bench

#endif  // SQUANT_BENCH_MEDIAN_H_
