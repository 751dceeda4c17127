// TLS and mutual TLS, with certificates made by openssl for the test.

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/test_util.h"

namespace squant::server::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One folder per process: ctest runs each test case as its own process,
    // in parallel, and a shared folder would mix two runs' CAs.
    dir_ = new std::string(
        absl::StrCat(::testing::TempDir(), "squant_tls_test_", getpid()));
    // A CA, and a server and a client certificate it signed.
    const std::string script = absl::StrCat(
        "set -e; mkdir -p ", *dir_, "; cd ", *dir_,
        "; openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out "
        "ca.pem -days 1 -subj /CN=squant-test-ca 2>/dev/null"
        "; for who in server client; do"
        "  openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr"
        "   -subj /CN=$who 2>/dev/null;"
        "  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > $who.ext;"
        "  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key"
        "   -CAcreateserial -out $who.pem -days 1 -extfile $who.ext"
        "   2>/dev/null; done");
    const std::string script_path = *dir_ + ".sh";
    std::ofstream(script_path) << script;
    ASSERT_EQ(std::system(("bash " + script_path).c_str()), 0);
  }
  static std::string File(const std::string& name) {
    return *dir_ + "/" + name;
  }

  // GetCapabilities over `credentials`; the call's status.
  static grpc::Status Call(
      int port, std::shared_ptr<grpc::ChannelCredentials> credentials) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto stub = v1::QuantizationService::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", port), credentials, args));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::GetCapabilitiesResponse response;
    return stub->GetCapabilities(&context, v1::GetCapabilitiesRequest(),
                                 &response);
  }

  static grpc::SslCredentialsOptions TrustingCa() {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadAll(File("ca.pem"));
    return options;
  }

  static std::string* dir_;
};
std::string* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, ServesTlsAndRefusesPlaintext) {
  ServerConfig config = TestConfig();
  config.tls_cert = File("server.pem");
  config.tls_key = File("server.key");
  std::unique_ptr<SquantServer> server = StartServer(config);
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(Call(server->port(), grpc::SslCredentials(TrustingCa())).ok());
  EXPECT_FALSE(Call(server->port(), grpc::InsecureChannelCredentials()).ok());
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  ServerConfig config = TestConfig();
  config.tls_cert = File("server.pem");
  config.tls_key = File("server.key");
  config.tls_client_ca = File("ca.pem");
  std::unique_ptr<SquantServer> server = StartServer(config);
  ASSERT_NE(server, nullptr);
  EXPECT_FALSE(Call(server->port(), grpc::SslCredentials(TrustingCa())).ok());
  grpc::SslCredentialsOptions with_certificate = TrustingCa();
  with_certificate.pem_cert_chain = ReadAll(File("client.pem"));
  with_certificate.pem_private_key = ReadAll(File("client.key"));
  const grpc::Status status =
      Call(server->port(), grpc::SslCredentials(with_certificate));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST(TlsConfigTest, KeyWithoutCertificateIsRejected) {
  ServerConfig config = TestConfig();
  config.tls_key = "/nonexistent.key";
  EXPECT_FALSE(SquantServer::Start(config).ok());
}

}  // namespace
}  // namespace squant::server::testing
