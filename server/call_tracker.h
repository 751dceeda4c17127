// Admission and draining: counts the calls running, refuses new ones while
// the server drains or when --max_concurrent_streams streams are open, and
// lets shutdown wait for the running ones.

#ifndef SQUANT_SERVER_CALL_TRACKER_H_
#define SQUANT_SERVER_CALL_TRACKER_H_

#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace squant::server {

class CallTracker {
 public:
  explicit CallTracker(int max_streams) : max_streams_(max_streams) {}

  // UNAVAILABLE (draining) or RESOURCE_EXHAUSTED (too_many_streams), else
  // counts the stream as open until StreamDone().
  absl::Status AdmitStream();
  void StreamDone();
  // UNAVAILABLE (draining), else counts the call until UnaryDone().
  absl::Status AdmitUnary();
  void UnaryDone();

  void StartDraining();
  // Waits until no admitted call runs or `deadline` passes; true if idle.
  bool WaitUntilIdle(absl::Time deadline);
  int open_streams();

 private:
  absl::Status DrainingError() const;

  const int max_streams_;
  std::mutex mu_;
  std::condition_variable idle_;
  int open_streams_ ABSL_GUARDED_BY(mu_) = 0;
  int open_unary_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace squant::server

#endif  // SQUANT_SERVER_CALL_TRACKER_H_
