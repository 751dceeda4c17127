// Happens-before edges that ThreadSanitizer cannot see by itself: gRPC (as
// Debian builds it, without TSan) orders a reactor's operations and its
// reactions internally. Marking them lets TSan check our own code around
// them instead of reporting gRPC's invisible ordering as races.

#ifndef SQUANT_SERVER_TSAN_ANNOTATIONS_H_
#define SQUANT_SERVER_TSAN_ANNOTATIONS_H_

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace squant::server {

// Before handing `object` to gRPC (StartRead, StartWrite, Finish).
inline void GrpcHandOff(void* object) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(object);
#else
  (void)object;
#endif
}

// At the start of a reaction gRPC runs on `object`.
inline void GrpcReaction(void* object) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(object);
#else
  (void)object;
#endif
}

}  // namespace squant::server

#endif  // SQUANT_SERVER_TSAN_ANNOTATIONS_H_
