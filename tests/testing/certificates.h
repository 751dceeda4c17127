// Certificates for TLS tests: a throw-away CA and the server and client
// certificates it signed, made by the openssl command line tool.

#ifndef SQUANT_TESTS_TESTING_CERTIFICATES_H_
#define SQUANT_TESTS_TESTING_CERTIFICATES_H_

#include <string>

#include "absl/status/statusor.h"

namespace squant::testing {

// A PEM file as written to disk: servers take the path, gRPC client
// credentials take the contents.
struct PemFile {
  std::string path;
  std::string pem;
};

struct CertificateSet {
  PemFile ca;  // self-signed; signed both certificates below
  // Valid for localhost and 127.0.0.1.
  PemFile server_certificate;
  PemFile server_key;
  PemFile client_certificate;
  PemFile client_key;
};

// Makes a fresh CA and the certificates it signed in `folder` (created if
// missing), valid for one day. `folder` must belong to the calling process
// alone: ctest runs the cases of one test binary as parallel processes, and
// two runs writing one folder would pair a certificate with the other
// run's CA.
absl::StatusOr<CertificateSet> MakeCertificates(const std::string& folder);

}  // namespace squant::testing

#endif  // SQUANT_TESTS_TESTING_CERTIFICATES_H_
