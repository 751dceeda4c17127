#include "client/cli/command_line.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "client/cli/exit_code.h"
#include "client/cli/version.h"

namespace squant::cli {
namespace {

constexpr char kUsage[] =
    R"(squant-cli: quantize safetensors weights with SQuant (data-free, per channel)

Usage:
  squant-cli quantize --input IN.safetensors --output OUT.safetensors
                      (--server ADDR[,ADDR...] | --server dns:///NAME:PORT | --local)
                      [options]
  squant-cli inspect FILE [--json]
  squant-cli dequantize --input Q.safetensors --output F32.safetensors
  squant-cli version

quantize options:
  --bits N              bits per weight, 2..8 (default 4)
  --mode M              squant | squant-k | squant-c | squant-e (= round to nearest)
  --grid G              asymmetric (default) | symmetric (zero_point 0)
  --pack                two 4-bit values per byte (U8) for tensors of <= 4 bits
  --include REGEX       quantize only matching tensors (RE2, repeatable; default:
                        every F32/F16/BF16 tensor of rank >= 2)
  --exclude REGEX       keep matching tensors unchanged (repeatable)
  --bits_override REGEX=BITS  bits for matching tensors (repeatable, first wins)
  --streams N           parallel QuantizeModel streams (default 2 per address)
  --timeout DURATION    deadline for the whole run, e.g. 90s, 10m
  --local               quantize in-process, no server (same output bytes)
  --threads N           --local worker threads (default: all CPUs)
  --json                print the report as JSON on stdout (no table, no bar)
  --tls_ca FILE         PEM roots: connect with TLS
  --tls_cert FILE --tls_key FILE  client certificate for mutual TLS

Exit codes: 0 ok, 1 usage, 2 input file or tensor rejected,
            3 server/RPC error or deadline, 4 output file not writable.
)";

absl::Status UsageError(absl::string_view message) {
  return WithExitCode(absl::InvalidArgumentError(
                          absl::StrCat(message, " (see squant-cli --help)")),
                      ExitCode::kUsage);
}

// Walks the flags of one subcommand: "--name value" or "--name=value";
// boolean flags take no value.
class FlagReader {
 public:
  using ValueFlag = std::function<absl::Status(absl::string_view)>;

  void Value(std::string name, ValueFlag on_value) {
    value_flags_[std::move(name)] = std::move(on_value);
  }
  void Bool(std::string name, bool* target) {
    bool_flags_[std::move(name)] = target;
  }
  void Positional(std::string* target) { positional_ = target; }

  absl::Status Read(int argc, const char* const argv[], int first) {
    for (int i = first; i < argc; ++i) {
      absl::string_view arg = argv[i];
      if (!absl::StartsWith(arg, "--")) {
        if (positional_ == nullptr || !positional_->empty()) {
          return UsageError(absl::StrCat("unexpected argument '", arg, "'"));
        }
        *positional_ = std::string(arg);
        continue;
      }
      std::string name(arg.substr(2));
      std::optional<std::string> value;
      if (const size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
      if (auto it = bool_flags_.find(name); it != bool_flags_.end()) {
        if (value.has_value()) {
          return UsageError(absl::StrCat("--", name, " takes no value"));
        }
        *it->second = true;
        continue;
      }
      auto it = value_flags_.find(name);
      if (it == value_flags_.end()) {
        return UsageError(absl::StrCat("unknown flag --", name));
      }
      if (!value.has_value()) {
        if (i + 1 >= argc) {
          return UsageError(absl::StrCat("--", name, " needs a value"));
        }
        value = argv[++i];
      }
      if (absl::Status status = it->second(*value); !status.ok()) {
        return UsageError(absl::StrCat("--", name, ": ", status.message()));
      }
    }
    return absl::OkStatus();
  }

 private:
  std::map<std::string, ValueFlag> value_flags_;
  std::map<std::string, bool*> bool_flags_;
  std::string* positional_ = nullptr;
};

FlagReader::ValueFlag StoreString(std::string* target) {
  return [target](absl::string_view value) {
    *target = std::string(value);
    return absl::OkStatus();
  };
}

FlagReader::ValueFlag AppendString(std::vector<std::string>* target) {
  return [target](absl::string_view value) {
    target->emplace_back(value);
    return absl::OkStatus();
  };
}

absl::StatusOr<int> ParseBits(absl::string_view text) {
  int bits = 0;
  if (!absl::SimpleAtoi(text, &bits) || bits < kMinBits || bits > kMaxBits) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bits must be ", kMinBits, "..", kMaxBits, ", got '", text, "'"));
  }
  return bits;
}

FlagReader::ValueFlag StorePositiveInt(int* target) {
  return [target](absl::string_view value) {
    if (!absl::SimpleAtoi(value, target) || *target < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected a positive integer, got '", value, "'"));
    }
    return absl::OkStatus();
  };
}

absl::StatusOr<Command> ParseQuantize(int argc, const char* const argv[]) {
  QuantizeCommand command;
  FlagReader flags;
  flags.Value("input", StoreString(&command.input));
  flags.Value("output", StoreString(&command.output));
  flags.Value("server", StoreString(&command.server));
  flags.Value("bits", [&](absl::string_view value) -> absl::Status {
    absl::StatusOr<int> bits = ParseBits(value);
    if (!bits.ok()) return bits.status();
    command.defaults.bits = *bits;
    return absl::OkStatus();
  });
  flags.Value("mode", [&](absl::string_view value) -> absl::Status {
    absl::StatusOr<Mode> mode = ParseMode(value);
    if (!mode.ok()) return mode.status();
    command.defaults.mode = *mode;
    return absl::OkStatus();
  });
  flags.Value("grid", [&](absl::string_view value) -> absl::Status {
    absl::StatusOr<Grid> grid = ParseGrid(value);
    if (!grid.ok()) return grid.status();
    command.defaults.grid = *grid;
    return absl::OkStatus();
  });
  flags.Value("include", AppendString(&command.include));
  flags.Value("exclude", AppendString(&command.exclude));
  flags.Value("bits_override", [&](absl::string_view value) -> absl::Status {
    const size_t eq = value.rfind('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected REGEX=BITS, got '", value, "'"));
    }
    absl::StatusOr<int> bits = ParseBits(value.substr(eq + 1));
    if (!bits.ok()) return bits.status();
    command.bits_overrides.push_back(
        BitsOverride{std::string(value.substr(0, eq)), *bits});
    return absl::OkStatus();
  });
  flags.Value("streams", StorePositiveInt(&command.streams));
  flags.Value("threads", StorePositiveInt(&command.threads));
  flags.Value("timeout", [&](absl::string_view value) -> absl::Status {
    if (!absl::ParseDuration(value, &command.timeout) ||
        command.timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected a positive duration such as 90s or 10m, got '",
                       value, "'"));
    }
    return absl::OkStatus();
  });
  flags.Value("tls_ca", StoreString(&command.tls.ca));
  flags.Value("tls_cert", StoreString(&command.tls.cert));
  flags.Value("tls_key", StoreString(&command.tls.key));
  flags.Bool("pack", &command.pack);
  flags.Bool("local", &command.local);
  flags.Bool("json", &command.json);
  if (absl::Status status = flags.Read(argc, argv, 2); !status.ok()) {
    return status;
  }

  if (command.input.empty()) return UsageError("quantize needs --input");
  if (command.output.empty()) return UsageError("quantize needs --output");
  if (command.local == !command.server.empty()) {
    return UsageError("quantize needs exactly one of --server and --local");
  }
  if (command.pack && command.defaults.bits > kMaxPackedBits) {
    return UsageError(absl::StrCat("--pack needs --bits <= ", kMaxPackedBits));
  }
  if (command.tls.cert.empty() != command.tls.key.empty()) {
    return UsageError("--tls_cert and --tls_key go together");
  }
  if (command.local && (command.tls.enabled() || command.streams != 0)) {
    return UsageError("--local takes no --streams or TLS flags");
  }
  if (!command.local && command.threads != 0) {
    return UsageError("--threads applies to --local only");
  }
  return command;
}

absl::StatusOr<Command> ParseInspect(int argc, const char* const argv[]) {
  InspectCommand command;
  FlagReader flags;
  flags.Positional(&command.file);
  flags.Bool("json", &command.json);
  if (absl::Status status = flags.Read(argc, argv, 2); !status.ok()) {
    return status;
  }
  if (command.file.empty()) return UsageError("inspect needs a FILE");
  return command;
}

absl::StatusOr<Command> ParseDequantize(int argc, const char* const argv[]) {
  DequantizeCommand command;
  FlagReader flags;
  flags.Value("input", StoreString(&command.input));
  flags.Value("output", StoreString(&command.output));
  if (absl::Status status = flags.Read(argc, argv, 2); !status.ok()) {
    return status;
  }
  if (command.input.empty() || command.output.empty()) {
    return UsageError("dequantize needs --input and --output");
  }
  return command;
}

}  // namespace

absl::StatusOr<Command> ParseCommandLine(int argc, const char* const argv[]) {
  if (argc < 2) return UsageError("no command given");
  const absl::string_view verb = argv[1];
  if (verb == "--help" || verb == "-h" || verb == "help") {
    return HelpCommand{kUsage};
  }
  if (verb == "version" || verb == "--version") {
    return HelpCommand{absl::StrCat("squant-cli ", kToolVersion, "\n")};
  }
  for (int i = 2; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return HelpCommand{kUsage};
  }
  if (verb == "quantize") return ParseQuantize(argc, argv);
  if (verb == "inspect") return ParseInspect(argc, argv);
  if (verb == "dequantize") return ParseDequantize(argc, argv);
  return UsageError(absl::StrCat("unknown command '", verb, "'"));
}

}  // namespace squant::cli
