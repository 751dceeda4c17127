#include "server/available_cpus.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

namespace squant::server {
namespace {

int AffinityCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::thread::hardware_concurrency());
}

// cgroup v2 "cpu.max" holds "<quota> <period>" or "max <period>"; cgroup v1
// splits them into cpu.cfs_quota_us (-1 for none) and cpu.cfs_period_us.
std::optional<double> CgroupCpuQuota() {
  std::ifstream v2("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (v2 >> quota >> period) {
    if (quota == "max" || period <= 0) return std::nullopt;
    return std::stod(quota) / period;
  }
  std::ifstream v1_quota("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  std::ifstream v1_period("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  double quota_us = -1;
  if (v1_quota >> quota_us && v1_period >> period && quota_us > 0 &&
      period > 0) {
    return quota_us / period;
  }
  return std::nullopt;
}

}  // namespace

int AvailableCpus() {
  int cpus = std::max(AffinityCpus(), 1);
  if (std::optional<double> quota = CgroupCpuQuota()) {
    // A quota of 1.5 CPUs still keeps two threads busy half the time.
    cpus = std::min(cpus, std::max(1, static_cast<int>(std::ceil(*quota))));
  }
  return cpus;
}

}  // namespace squant::server
