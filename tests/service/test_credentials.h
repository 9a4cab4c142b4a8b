// The secure setup the tests run with: the credentials
// scripts/dev_credentials.sh makes (a CA, server and client certificates,
// token-signing keys, the access configuration), generated once per build
// into build/test-credentials, and bearer tokens minted in-process for any
// principal. Thread-safe.
#ifndef COLLECTIONS_TESTS_SERVICE_TEST_CREDENTIALS_H_
#define COLLECTIONS_TESTS_SERVICE_TEST_CREDENTIALS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace collections::testing {

// The folder of scripts/dev_credentials.sh's output.
const std::string& CredentialsDir();
// The contents of one file in it ("ca.pem", "tokens/expired.jwt"); aborts
// the test program when it cannot be read.
std::string Credential(const std::string& name);

// A bearer token from the development identity provider (RS256, kid
// dev-rs256): subject `sub`, `roles`, and for legal callers `firm_id`.
std::string MintToken(const std::string& sub, const std::vector<std::string>& roles,
                      const std::string& firm_id = "", absl::Duration lifetime = absl::Hours(1));

// The bearer token of kTester (every role), as SetCaller sends it.
std::string TesterToken();

// Channel credentials trusting the test CA, optionally presenting the
// client certificate NAME.pem / NAME.key ("ingest", "firm-shanghai").
std::shared_ptr<grpc::ChannelCredentials> TestChannelCredentials(
    const std::string& client_certificate = "");
// Channel arguments that let the test CA's "localhost" certificate match
// any address the tests dial (127.0.0.1:port).
grpc::ChannelArguments TestChannelArguments();

}  // namespace collections::testing

#endif  // COLLECTIONS_TESTS_SERVICE_TEST_CREDENTIALS_H_
