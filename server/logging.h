// Structured event logs: one line per event on stdout, as a JSON object
// ({"ts":"...","event":"...",...}) or as key=value pairs, so that a log
// pipeline can parse them. gRPC's own diagnostics stay on stderr.

#ifndef SQUANT_SERVER_LOGGING_H_
#define SQUANT_SERVER_LOGGING_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace squant::server {

enum class LogFormat { kJson, kText };

// "json" or "text".
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name);
void SetLogFormat(LogFormat format);

// One key and its value; strings are quoted and escaped as the format needs.
class LogField {
 public:
  LogField(absl::string_view key, absl::string_view value)
      : key_(key), value_(std::string(value)) {}
  LogField(absl::string_view key, const char* value)
      : LogField(key, absl::string_view(value)) {}
  LogField(absl::string_view key, const std::string& value)
      : LogField(key, absl::string_view(value)) {}
  LogField(absl::string_view key, bool value) : key_(key), value_(value) {}
  LogField(absl::string_view key, double value) : key_(key), value_(value) {}
  template <typename Int,
            typename = std::enable_if_t<std::is_integral_v<Int> &&
                                        !std::is_same_v<Int, bool>>>
  LogField(absl::string_view key, Int value)
      : key_(key), value_(static_cast<int64_t>(value)) {}

  absl::string_view key() const { return key_; }
  const std::variant<std::string, int64_t, double, bool>& value() const {
    return value_;
  }

 private:
  absl::string_view key_;
  std::variant<std::string, int64_t, double, bool> value_;
};

// Writes one line: the time ("ts", RFC 3339 UTC), "event", then `fields`
// in order. Thread-safe; lines never interleave.
void LogEvent(absl::string_view event, std::initializer_list<LogField> fields);

}  // namespace squant::server

#endif  // SQUANT_SERVER_LOGGING_H_
