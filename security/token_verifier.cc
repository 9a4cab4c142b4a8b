#include "security/token_verifier.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <fstream>
#include <jwt/jwt.hpp>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace collections::security {
namespace {

using Json = nlohmann::json;

constexpr int kDefaultLeewaySeconds = 60;
constexpr int kMaxLeewaySeconds = 300;
constexpr size_t kMaxCachedTokens = 4096;
constexpr size_t kMaxTokenBytes = 16 * 1024;

std::string Resolve(const std::string& base_dir, const std::string& file) {
  if (file.empty() || file[0] == '/' || base_dir.empty()) return file;
  return absl::StrCat(base_dir, "/", file);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Time ModifiedAt(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return absl::InfinitePast();
  return absl::TimeFromTimespec(st.st_mtim);
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

absl::StatusOr<TokenVerifier::Key> KeyOf(EVP_PKEY* pkey) {
  TokenVerifier::Key key;
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(pkey) < 2048) {
        return absl::InvalidArgumentError("an RSA key shorter than 2048 bits");
      }
      key.algorithms = {"RS256", "RS384", "RS512"};
      break;
    case EVP_PKEY_EC:
      if (EVP_PKEY_get_bits(pkey) == 256) {
        key.algorithms = {"ES256"};
      } else if (EVP_PKEY_get_bits(pkey) == 384) {
        key.algorithms = {"ES384"};
      } else {
        return absl::InvalidArgumentError("an EC key on a curve other than P-256 or P-384");
      }
      break;
    default:
      return absl::InvalidArgumentError("neither an RSA nor an EC public key");
  }
  BIO* out = BIO_new(BIO_s_mem());
  if (out == nullptr || PEM_write_bio_PUBKEY(out, pkey) != 1) {
    BIO_free(out);
    return absl::InternalError("cannot write a public key as PEM");
  }
  char* data = nullptr;
  long size = BIO_get_mem_data(out, &data);
  key.pem.assign(data, static_cast<size_t>(size));
  BIO_free(out);
  return key;
}

absl::StatusOr<std::string> Base64Url(const Json& jwk, const char* field) {
  auto it = jwk.find(field);
  if (it == jwk.end() || !it->is_string() || it->get<std::string>().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no \"", field, "\""));
  }
  const std::string& text = it->get_ref<const std::string&>();
  return jwt::base64_uri_decode(text.data(), text.size());
}

absl::StatusOr<Pkey> PkeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  const bool ok = params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
                  EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (!ok) return absl::InvalidArgumentError("the key's numbers do not make a public key");
  return Pkey(pkey);
}

absl::StatusOr<Pkey> RsaFromJwk(const Json& jwk) {
  ASSIGN_OR_RETURN(std::string n, Base64Url(jwk, "n"));
  ASSIGN_OR_RETURN(std::string e, Base64Url(jwk, "e"));
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), n.size(), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), e.size(), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  absl::StatusOr<Pkey> pkey = absl::InvalidArgumentError("bad RSA numbers");
  if (bn_n != nullptr && bn_e != nullptr && bld != nullptr &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1) {
    pkey = PkeyFromParams("RSA", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  return pkey;
}

absl::StatusOr<Pkey> EcFromJwk(const Json& jwk) {
  auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string()) return absl::InvalidArgumentError("no \"crv\"");
  const std::string curve = crv->get<std::string>();
  const char* group = curve == "P-256" ? "prime256v1" : curve == "P-384" ? "secp384r1" : nullptr;
  const size_t coordinate = curve == "P-256" ? 32 : 48;
  if (group == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("curve \"", curve, "\" (P-256 or P-384)"));
  }
  ASSIGN_OR_RETURN(std::string x, Base64Url(jwk, "x"));
  ASSIGN_OR_RETURN(std::string y, Base64Url(jwk, "y"));
  if (x.size() != coordinate || y.size() != coordinate) {
    return absl::InvalidArgumentError("coordinates of the wrong length for the curve");
  }
  std::string point = absl::StrCat("\x04", x, y);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  absl::StatusOr<Pkey> pkey = absl::InvalidArgumentError("bad EC point");
  if (bld != nullptr &&
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) ==
          1) {
    pkey = PkeyFromParams("EC", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  return pkey;
}

// The token's header, decoded; null when it is not a JWT header.
Json HeaderOf(absl::string_view token) {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return Json();
  const std::string decoded = jwt::base64_uri_decode(parts[0].data(), parts[0].size());
  Json header = Json::parse(decoded, nullptr, /*allow_exceptions=*/false);
  return header.is_object() ? header : Json();
}

std::string Reason(const std::error_code& ec) {
  if (ec == jwt::VerificationErrc::TokenExpired) return "the token has expired";
  if (ec == jwt::VerificationErrc::ImmatureSignature) return "the token is not valid yet (nbf)";
  if (ec == jwt::VerificationErrc::InvalidIssuer) return "the token is from another issuer";
  if (ec == jwt::VerificationErrc::InvalidSignature || ec == jwt::AlgorithmErrc::VerificationErr) {
    return "the token's signature does not verify";
  }
  if (ec == jwt::VerificationErrc::InvalidAlgorithm) {
    return "the token's algorithm does not match its key";
  }
  return absl::StrCat("the token is not valid (", ec.message(), ")");
}

bool AudienceMatches(const Json& aud, const std::string& want) {
  if (aud.is_string()) return aud.get<std::string>() == want;
  if (!aud.is_array()) return false;
  for (const Json& one : aud) {
    if (one.is_string() && one.get<std::string>() == want) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<TokenVerifier::Key> KeyFromPem(absl::string_view pem) {
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  Pkey pkey(in != nullptr ? PEM_read_bio_PUBKEY(in, nullptr, nullptr, nullptr) : nullptr);
  BIO_free(in);
  if (pkey == nullptr) return absl::InvalidArgumentError("not a PEM public key");
  return KeyOf(pkey.get());
}

absl::StatusOr<std::map<std::string, TokenVerifier::Key>> KeysFromJwks(absl::string_view json) {
  Json set = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (!set.is_object() || !set.contains("keys") || !set["keys"].is_array()) {
    return absl::InvalidArgumentError("not a JSON Web Key Set ({\"keys\": [...]})");
  }
  std::map<std::string, TokenVerifier::Key> keys;
  int index = 0;
  for (const Json& jwk : set["keys"]) {
    const std::string where = absl::StrCat("keys[", index++, "]");
    if (!jwk.is_object()) return absl::InvalidArgumentError(absl::StrCat(where, ": not an object"));
    if (jwk.contains("use") && jwk["use"] != "sig") continue;  // an encryption key
    if (!jwk.contains("kid") || !jwk["kid"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no \"kid\""));
    }
    const std::string kid = jwk["kid"].get<std::string>();
    const std::string kty = jwk.value("kty", "");
    absl::StatusOr<Pkey> pkey =
        kty == "RSA"  ? RsaFromJwk(jwk)
        : kty == "EC" ? EcFromJwk(jwk)
                      : absl::InvalidArgumentError(absl::StrCat("kty \"", kty, "\" (RSA or EC)"));
    if (!pkey.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (kid ", kid, "): ", pkey.status().message()));
    }
    absl::StatusOr<TokenVerifier::Key> key = KeyOf(pkey->get());
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (kid ", kid, "): ", key.status().message()));
    }
    if (jwk.contains("alg") && jwk["alg"].is_string()) {
      const std::string alg = jwk["alg"].get<std::string>();
      if (key->algorithms.count(alg) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " (kid ", kid, "): alg ", alg, " does not fit the key"));
      }
      key->algorithms = {alg};
    }
    keys[kid] = *std::move(key);
  }
  return keys;
}

TokenVerifier::TokenVerifier(v1::JwtIssuer config, std::string base_dir,
                             std::function<absl::Time()> now)
    : config_(std::move(config)), base_dir_(std::move(base_dir)), now_(std::move(now)) {}

absl::StatusOr<std::unique_ptr<TokenVerifier>> TokenVerifier::Create(
    const v1::JwtIssuer& config, const std::string& base_dir, std::function<absl::Time()> now) {
  if (config.issuer().empty())
    return absl::InvalidArgumentError("access config: jwt.issuer is required");
  if (config.audience().empty()) {
    return absl::InvalidArgumentError("access config: jwt.audience is required");
  }
  if (config.keys().empty() && config.jwks_file().empty()) {
    return absl::InvalidArgumentError("access config: jwt needs keys or a jwks_file");
  }
  if (config.leeway_seconds() < 0 || config.leeway_seconds() > kMaxLeewaySeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat("access config: jwt.leeway_seconds must be 0..", kMaxLeewaySeconds));
  }
  std::unique_ptr<TokenVerifier> verifier(new TokenVerifier(config, base_dir, std::move(now)));
  absl::MutexLock lock(&verifier->mu_);
  RETURN_IF_ERROR(verifier->LoadKeysIfChanged());
  return verifier;
}

absl::Status TokenVerifier::LoadKeysIfChanged() {
  std::vector<std::string> files;
  for (const v1::JwtKey& key : config_.keys()) files.push_back(Resolve(base_dir_, key.pem_file()));
  if (!config_.jwks_file().empty()) files.push_back(Resolve(base_dir_, config_.jwks_file()));
  bool changed = keys_.empty();
  std::map<std::string, absl::Time> times;
  for (const std::string& file : files) {
    times[file] = ModifiedAt(file);
    if (file_times_[file] != times[file]) changed = true;
  }
  last_check_ = now_();
  if (!changed) return absl::OkStatus();

  std::map<std::string, Key> keys;
  for (const v1::JwtKey& entry : config_.keys()) {
    const std::string file = Resolve(base_dir_, entry.pem_file());
    if (entry.kid().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("access config: jwt key ", file, " needs a kid"));
    }
    ASSIGN_OR_RETURN(std::string pem, ReadFile(file));
    absl::StatusOr<Key> key = KeyFromPem(pem);
    if (!key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("access config: jwt key ", entry.kid(), " (",
                                                     file, "): ", key.status().message()));
    }
    keys[entry.kid()] = *std::move(key);
  }
  if (!config_.jwks_file().empty()) {
    const std::string file = Resolve(base_dir_, config_.jwks_file());
    ASSIGN_OR_RETURN(std::string json, ReadFile(file));
    absl::StatusOr<std::map<std::string, Key>> set = KeysFromJwks(json);
    if (!set.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("access config: jwks_file ", file, ": ", set.status().message()));
    }
    for (auto& [kid, key] : *set) keys.emplace(kid, std::move(key));
  }
  if (keys.empty()) return absl::InvalidArgumentError("access config: jwt: no usable key");
  keys_ = std::move(keys);
  file_times_ = std::move(times);
  cache_.clear();  // a withdrawn key must stop verifying at once
  return absl::OkStatus();
}

absl::StatusOr<Principal> TokenVerifier::Verify(absl::string_view token) {
  if (token.empty()) return absl::UnauthenticatedError("the bearer token is empty");
  if (token.size() > kMaxTokenBytes) {
    return absl::UnauthenticatedError("the bearer token is too long");
  }
  const absl::Time now = now_();
  {
    // The common case, on every call: a token seen before, looked up
    // without a copy under a shared lock.
    absl::ReaderMutexLock lock(&mu_);
    if (now - last_check_ < absl::Seconds(1)) {
      auto cached = cache_.find(token);
      if (cached != cache_.end() && now < cached->second.expires) return cached->second.principal;
    }
  }
  const Json header = HeaderOf(token);
  if (header.is_null()) return absl::UnauthenticatedError("the bearer token is not a JWT");
  const std::string alg = header.value("alg", "");
  const std::string kid =
      header.contains("kid") && header["kid"].is_string() ? header["kid"].get<std::string>() : "";
  Key key;
  {
    absl::MutexLock lock(&mu_);
    if (now - last_check_ >= absl::Seconds(1)) {
      // A key file that no longer loads keeps the keys that did: tokens go
      // on verifying while an operator fixes the file.
      LoadKeysIfChanged().IgnoreError();
    }
    auto cached = cache_.find(token);
    if (cached != cache_.end() && now < cached->second.expires) return cached->second.principal;
    if (!kid.empty()) {
      auto it = keys_.find(kid);
      if (it == keys_.end()) return absl::UnauthenticatedError("the token's key id is not known");
      key = it->second;
    } else if (keys_.size() == 1) {
      key = keys_.begin()->second;
    } else {
      return absl::UnauthenticatedError("the token names no key id (kid)");
    }
  }
  if (key.algorithms.count(alg) == 0) {
    return absl::UnauthenticatedError("the token's algorithm does not match its key");
  }
  // The signature check runs outside the lock: callers with other tokens
  // do not wait for it.
  ASSIGN_OR_RETURN(Verified verified, VerifyWith(token, alg, key));
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= kMaxCachedTokens) cache_.clear();
  cache_[std::string(token)] = verified;
  return verified.principal;
}

absl::StatusOr<TokenVerifier::Verified> TokenVerifier::VerifyWith(absl::string_view token,
                                                                  const std::string& alg,
                                                                  const Key& key) const {
  const int leeway =
      config_.leeway_seconds() > 0 ? config_.leeway_seconds() : kDefaultLeewaySeconds;
  Principal principal;
  absl::Time expires;
  try {
    std::error_code ec;
    auto decoded =
        jwt::decode(jwt::string_view(token.data(), token.size()), jwt::params::algorithms({alg}),
                    ec, jwt::params::secret(key.pem), jwt::params::issuer(config_.issuer()),
                    jwt::params::leeway(static_cast<uint32_t>(leeway)), jwt::params::verify(true));
    if (ec) return absl::UnauthenticatedError(Reason(ec));
    const Json& claims = decoded.payload().create_json_obj();
    if (!claims.contains("exp") || !claims["exp"].is_number()) {
      return absl::UnauthenticatedError("the token has no expiry (exp)");
    }
    if (!claims.contains("aud") || !AudienceMatches(claims["aud"], config_.audience())) {
      return absl::UnauthenticatedError("the token is for another audience");
    }
    if (!claims.contains("sub") || !claims["sub"].is_string() ||
        claims["sub"].get<std::string>().empty()) {
      return absl::UnauthenticatedError("the token names no subject (sub)");
    }
    principal.name = claims["sub"].get<std::string>();
    if (principal.name.size() > 128) {
      return absl::UnauthenticatedError("the token's subject is too long");
    }
    const std::string roles_claim = config_.roles_claim().empty() ? "roles" : config_.roles_claim();
    if (claims.contains(roles_claim)) {
      const Json& roles = claims[roles_claim];
      std::vector<std::string> names;
      if (roles.is_string()) {
        names = absl::StrSplit(roles.get<std::string>(), ' ', absl::SkipEmpty());
      } else if (roles.is_array()) {
        for (const Json& role : roles) {
          if (role.is_string()) names.push_back(role.get<std::string>());
        }
      }
      for (const std::string& name : names) {
        if (IsRole(name)) principal.roles.insert(name);
      }
    }
    const std::string firm_claim = config_.firm_claim().empty() ? "firm_id" : config_.firm_claim();
    if (claims.contains(firm_claim) && claims[firm_claim].is_string()) {
      principal.firm_id = claims[firm_claim].get<std::string>();
    }
    expires = absl::FromUnixSeconds(claims["exp"].get<int64_t>() + leeway);
  } catch (const std::exception&) {
    // cpp-jwt throws for malformed parts (bad base64, JSON, claim types).
    return absl::UnauthenticatedError("the bearer token is malformed");
  }
  return Verified{std::move(principal), expires};
}

}  // namespace collections::security
