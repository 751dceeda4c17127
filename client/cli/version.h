#ifndef SQUANT_CLIENT_CLI_VERSION_H_
#define SQUANT_CLIENT_CLI_VERSION_H_

namespace squant::cli {

// The project version, recorded in every file the tool writes.
inline constexpr char kToolVersion[] = SQUANT_CLI_VERSION;

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_VERSION_H_
