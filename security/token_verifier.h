// TokenVerifier: checks bearer tokens (JWT) from the institution's identity
// provider and says who they speak for. Signatures are checked by cpp-jwt
// over OpenSSL against the configured public keys (PEM files by key id and a
// JWKS file); RS256/384/512 for RSA keys, ES256/ES384 for EC keys; never
// "none" or an HMAC algorithm. `exp` (required) and `nbf` are checked
// against the system clock with the configured leeway, `iss` and `aud`
// against the configuration. The key files are re-read when they change
// (checked at most once a second). Verified tokens are remembered until
// they expire, so a caller's token is verified once, not on every call.
// Thread-safe.
#ifndef COLLECTIONS_SECURITY_TOKEN_VERIFIER_H_
#define COLLECTIONS_SECURITY_TOKEN_VERIFIER_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "collections/v1/access.pb.h"
#include "security/principal.h"

namespace collections::security {

class TokenVerifier {
 public:
  // `base_dir` resolves relative file names. INVALID_ARGUMENT for a missing
  // issuer or audience, no key at all, or a key file that cannot be read.
  // `now` tells when to look at the key files again and when a remembered
  // token expires (tests move it; `exp`/`nbf` themselves are checked by
  // cpp-jwt against the system clock).
  static absl::StatusOr<std::unique_ptr<TokenVerifier>> Create(
      const v1::JwtIssuer& config, const std::string& base_dir,
      std::function<absl::Time()> now = [] { return absl::Now(); });

  // The principal a token speaks for: `sub` as the name, the roles claim
  // (unknown role names are ignored), the firm claim. UNAUTHENTICATED with
  // a reason that names no secret otherwise.
  absl::StatusOr<Principal> Verify(absl::string_view token);

  struct Key {
    std::string pem;  // SubjectPublicKeyInfo PEM, as cpp-jwt takes it
    // What this key may verify: RS256, RS384, RS512 for RSA; ES256 for
    // P-256, ES384 for P-384.
    std::set<std::string> algorithms;
  };

 private:
  struct Verified {
    Principal principal;
    absl::Time expires;  // exp plus the leeway
  };
  TokenVerifier(v1::JwtIssuer config, std::string base_dir, std::function<absl::Time()> now);
  // Re-reads the key files if one changed; keeps the old keys if the new
  // files do not load.
  absl::Status LoadKeysIfChanged() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Checks signature and claims with `key`; touches no shared state.
  absl::StatusOr<Verified> VerifyWith(absl::string_view token, const std::string& alg,
                                      const Key& key) const;

  const v1::JwtIssuer config_;
  const std::string base_dir_;
  const std::function<absl::Time()> now_;
  absl::Mutex mu_;
  std::map<std::string, Key> keys_ ABSL_GUARDED_BY(mu_);  // by kid
  std::map<std::string, absl::Time> file_times_ ABSL_GUARDED_BY(mu_);
  absl::Time last_check_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // By token; absl's map looks a string_view up without a copy.
  absl::flat_hash_map<std::string, Verified> cache_ ABSL_GUARDED_BY(mu_);
};

// Public keys from a JSON Web Key Set (RSA, and EC on P-256 or P-384), by
// kid. INVALID_ARGUMENT naming the key that cannot be used.
absl::StatusOr<std::map<std::string, TokenVerifier::Key>> KeysFromJwks(absl::string_view json);
// A PEM public key (RSA or EC) and the algorithm it verifies.
absl::StatusOr<TokenVerifier::Key> KeyFromPem(absl::string_view pem);

}  // namespace collections::security

#endif  // COLLECTIONS_SECURITY_TOKEN_VERIFIER_H_
