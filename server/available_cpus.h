// How many CPUs this process may use: the affinity mask, lowered by a
// cgroup CPU quota (a container's CPU limit).

#ifndef SQUANT_SERVER_AVAILABLE_CPUS_H_
#define SQUANT_SERVER_AVAILABLE_CPUS_H_

namespace squant::server {

// At least 1.
int AvailableCpus();

}  // namespace squant::server

#endif  // SQUANT_SERVER_AVAILABLE_CPUS_H_
