// The squant-cli command line: subcommands and their flags, parsed by hand
// because some flags repeat (--include, --exclude, --bits_override) and
// each subcommand has its own set.

#ifndef SQUANT_CLIENT_CLI_COMMAND_LINE_H_
#define SQUANT_CLIENT_CLI_COMMAND_LINE_H_

#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/squant.h"

namespace squant::cli {

struct BitsOverride {
  std::string pattern;  // RE2 regex, searched in the tensor name
  int bits = 0;
};

struct TlsFiles {
  std::string ca;    // PEM roots that sign the server's certificate
  std::string cert;  // PEM client certificate chain (mutual TLS)
  std::string key;   // PEM client private key (mutual TLS)
  bool enabled() const { return !ca.empty() || !cert.empty(); }
};

struct QuantizeCommand {
  std::string input;
  std::string output;
  std::string server;  // empty with --local
  bool local = false;
  QuantOptions defaults;
  bool pack = false;
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  std::vector<BitsOverride> bits_overrides;
  int streams = 0;  // 0: chosen from the server list
  int threads = 0;  // --local worker threads; 0: all CPUs
  absl::Duration timeout = absl::InfiniteDuration();
  bool json = false;
  TlsFiles tls;
};

struct InspectCommand {
  std::string file;
  bool json = false;
};

struct DequantizeCommand {
  std::string input;
  std::string output;
};

struct HelpCommand {
  std::string text;
};

using Command = std::variant<QuantizeCommand, InspectCommand, DequantizeCommand,
                             HelpCommand>;

// Parses argv (argv[0] included). Errors are usage errors whose message
// names the offending flag.
absl::StatusOr<Command> ParseCommandLine(int argc, const char* const argv[]);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_COMMAND_LINE_H_
