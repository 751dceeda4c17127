#include "tests/cli/server_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace squant::testing {
namespace {

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to :", port));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (::write(fd, request.data(), request.size()) < 0) {
    ::close(fd);
    return absl::UnavailableError("write failed");
  }
  std::string response;
  char buffer[8192];
  ssize_t got;
  while ((got = ::read(fd, buffer, sizeof(buffer))) > 0)
    response.append(buffer, got);
  ::close(fd);
  return response;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& name, const std::vector<std::string>& extra_flags) {
  std::vector<std::string> argv = {
      SQUANT_SERVER_PATH, "--port=0", "--metrics_port=0",
      "--bind_address=127.0.0.1", "--metrics_bind_address=127.0.0.1"};
  argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Start(argv, TempPath(name));
  if (!child.ok()) return child.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    for (absl::string_view line : absl::StrSplit(child->Stdout(), '\n')) {
      const nlohmann::json json =
          nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (json.is_object() && json.value("event", "") == "listening") {
        return std::unique_ptr<ServerProcess>(
            new ServerProcess(*std::move(child), json.value("port", 0),
                              json.value("metrics_port", 0)));
      }
    }
    if (!child->Running()) {
      return absl::InternalError(absl::StrCat(
          "squant-server exited early: ", child->Stdout(), child->Stderr()));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("squant-server did not log 'listening'");
}

absl::StatusOr<double> ServerProcess::LayersQuantized() const {
  absl::StatusOr<std::string> page = HttpGet(metrics_port_, "/metrics");
  if (!page.ok()) return page.status();
  double total = 0;
  for (absl::string_view line : absl::StrSplit(*page, '\n')) {
    if (!absl::StartsWith(line, "squant_layers_total")) continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space != absl::string_view::npos &&
        absl::SimpleAtod(line.substr(space + 1), &value)) {
      total += value;
    }
  }
  return total;
}

}  // namespace squant::testing
