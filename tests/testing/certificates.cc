#include "tests/testing/certificates.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace squant::testing {
namespace {

// The openssl steps; their output goes to openssl.log in the folder, which
// the error quotes when a step fails.
constexpr char kScript[] = R"(set -e
exec 2>openssl.log >&2
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
  -days 1 -subj /CN=squant-test-ca
for who in server client; do
  openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr \
    -subj /CN=$who
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > $who.ext
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key \
    -CAcreateserial -out $who.pem -days 1 -extfile $who.ext
done
)";

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return contents.str();
}

absl::StatusOr<PemFile> ReadPem(const std::string& folder,
                                const std::string& name) {
  std::string path = absl::StrCat(folder, "/", name);
  absl::StatusOr<std::string> pem = ReadText(path);
  if (!pem.ok()) return pem.status();
  return PemFile{.path = std::move(path), .pem = *std::move(pem)};
}

}  // namespace

absl::StatusOr<CertificateSet> MakeCertificates(const std::string& folder) {
  const std::string script_path = absl::StrCat(folder, "/make.sh");
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error || !(std::ofstream(script_path) << kScript)) {
    return absl::InternalError(
        absl::StrCat("certificates: cannot write ", script_path));
  }
  if (std::system(absl::StrCat("cd '", folder, "' && bash make.sh").c_str()) !=
      0) {
    const absl::StatusOr<std::string> log =
        ReadText(absl::StrCat(folder, "/openssl.log"));
    return absl::InternalError(
        absl::StrCat("certificates: openssl failed in ", folder, ": ",
                     log.ok() ? *log : std::string(log.status().message())));
  }
  CertificateSet set;
  const std::pair<PemFile*, const char*> files[] = {
      {&set.ca, "ca.pem"},
      {&set.server_certificate, "server.pem"},
      {&set.server_key, "server.key"},
      {&set.client_certificate, "client.pem"},
      {&set.client_key, "client.key"}};
  for (const auto& [file, name] : files) {
    absl::StatusOr<PemFile> read = ReadPem(folder, name);
    if (!read.ok()) return read.status();
    *file = *std::move(read);
  }
  return set;
}

}  // namespace squant::testing
