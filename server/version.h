// The server's version: the CMake project version, set by the build.

#ifndef SQUANT_SERVER_VERSION_H_
#define SQUANT_SERVER_VERSION_H_

#include "absl/strings/string_view.h"

namespace squant::server {

inline constexpr absl::string_view kVersion = SQUANT_VERSION;

}  // namespace squant::server

#endif  // SQUANT_SERVER_VERSION_H_
