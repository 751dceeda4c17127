#include "server/call_tracker.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/status_mapping.h"

namespace squant::server {

absl::Status CallTracker::DrainingError() const {
  return ServiceError(ErrorReason::kDraining,
                      "the server is shutting down; retry on another replica");
}

absl::Status CallTracker::AdmitStream() {
  std::lock_guard<std::mutex> lock(mu_);
  if (draining_) return DrainingError();
  if (open_streams_ >= max_streams_) {
    return ServiceError(
        ErrorReason::kTooManyStreams,
        absl::StrCat(open_streams_,
                     " QuantizeModel streams are open; the "
                     "server's limit is ",
                     max_streams_, " (--max_concurrent_streams)"));
  }
  ++open_streams_;
  return absl::OkStatus();
}

void CallTracker::StreamDone() {
  std::lock_guard<std::mutex> lock(mu_);
  --open_streams_;
  idle_.notify_all();
}

absl::Status CallTracker::AdmitUnary() {
  std::lock_guard<std::mutex> lock(mu_);
  if (draining_) return DrainingError();
  ++open_unary_;
  return absl::OkStatus();
}

void CallTracker::UnaryDone() {
  std::lock_guard<std::mutex> lock(mu_);
  --open_unary_;
  idle_.notify_all();
}

void CallTracker::StartDraining() {
  std::lock_guard<std::mutex> lock(mu_);
  draining_ = true;
}

bool CallTracker::WaitUntilIdle(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_until(lock, absl::ToChronoTime(deadline), [this] {
    return open_streams_ == 0 && open_unary_ == 0;
  });
}

int CallTracker::open_streams() {
  std::lock_guard<std::mutex> lock(mu_);
  return open_streams_;
}

}  // namespace squant::server
