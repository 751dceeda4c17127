#include "server/logging.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace squant::server {
namespace {

std::atomic<LogFormat> log_format{LogFormat::kJson};

void AppendJsonString(std::string& line, absl::string_view text) {
  line.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        line += "\\\"";
        break;
      case '\\':
        line += "\\\\";
        break;
      case '\n':
        line += "\\n";
        break;
      case '\t':
        line += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&line, "\\u%04x", c);
        } else {
          line.push_back(c);
        }
    }
  }
  line.push_back('"');
}

// key=value; a value with spaces, quotes or '=' is quoted like JSON.
void AppendTextString(std::string& line, absl::string_view text) {
  const bool plain =
      !text.empty() && text.find_first_of(" \"=\\\t\n") == text.npos;
  if (plain) {
    line.append(text.data(), text.size());
  } else {
    AppendJsonString(line, text);
  }
}

void AppendValue(std::string& line, const LogField& field, LogFormat format) {
  std::visit(
      [&](const auto& value) {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (format == LogFormat::kJson) {
            AppendJsonString(line, value);
          } else {
            AppendTextString(line, value);
          }
        } else if constexpr (std::is_same_v<T, bool>) {
          line += value ? "true" : "false";
        } else if constexpr (std::is_same_v<T, double>) {
          absl::StrAppendFormat(&line, "%.6g", value);
        } else {
          absl::StrAppend(&line, value);
        }
      },
      field.value());
}

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name) {
  if (name == "json") return LogFormat::kJson;
  if (name == "text") return LogFormat::kText;
  return absl::InvalidArgumentError(
      absl::StrCat("log format \"", name, "\" is not \"json\" or \"text\""));
}

void SetLogFormat(LogFormat format) { log_format.store(format); }

void LogEvent(absl::string_view event, std::initializer_list<LogField> fields) {
  const LogFormat format = log_format.load();
  const std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                                          absl::UTCTimeZone());
  std::string line;
  if (format == LogFormat::kJson) {
    absl::StrAppend(&line, "{\"ts\":\"", ts, "\",\"event\":");
    AppendJsonString(line, event);
    for (const LogField& field : fields) {
      line.push_back(',');
      AppendJsonString(line, field.key());
      line.push_back(':');
      AppendValue(line, field, format);
    }
    line += "}\n";
  } else {
    absl::StrAppend(&line, "ts=", ts, " event=");
    AppendTextString(line, event);
    for (const LogField& field : fields) {
      absl::StrAppend(&line, " ", field.key(), "=");
      AppendValue(line, field, format);
    }
    line.push_back('\n');
  }
  static std::mutex* const mu = new std::mutex;
  std::lock_guard<std::mutex> lock(*mu);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace squant::server
