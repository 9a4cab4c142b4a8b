#include "server/commands.h"

#include <openssl/evp.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "workflow/state_machine.h"

namespace collections::server {
namespace {

struct WriteLatencyObserver {
  const void* owner = nullptr;
  std::function<void(absl::Duration)> observe;
};

absl::Mutex& ObserverMutex() {
  static absl::Mutex* const mu = new absl::Mutex();
  return *mu;
}

// Copied out under the mutex and called outside it, so that a slow
// observer never holds another writer callback.
std::shared_ptr<const WriteLatencyObserver>& CurrentObserver() {
  static auto* const observer = new std::shared_ptr<const WriteLatencyObserver>();
  return *observer;
}

}  // namespace

void SetWriteLatencyObserver(const void* owner, std::function<void(absl::Duration)> observer) {
  auto next = std::make_shared<const WriteLatencyObserver>(
      WriteLatencyObserver{owner, std::move(observer)});
  absl::MutexLock lock(&ObserverMutex());
  CurrentObserver() = std::move(next);
}

void ClearWriteLatencyObserver(const void* owner) {
  absl::MutexLock lock(&ObserverMutex());
  if (CurrentObserver() != nullptr && CurrentObserver()->owner == owner)
    CurrentObserver() = nullptr;
}

void ObserveWriteLatency(absl::Duration took) {
  std::shared_ptr<const WriteLatencyObserver> observer;
  {
    absl::MutexLock lock(&ObserverMutex());
    observer = CurrentObserver();
  }
  if (observer != nullptr && observer->observe) observer->observe(took);
}

absl::Status WithRetryHint(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return status;
  return absl::ResourceExhaustedError(absl::StrCat(
      status.message(), "; back off ", absl::FormatDuration(kRetryBackoff), " before retrying"));
}

absl::Status CheckRequiredRequestId(const std::string& request_id) {
  if (request_id.empty()) return absl::InvalidArgumentError("request_id is required");
  if (request_id.size() > workflow::kMaxIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id is too long (at most ", workflow::kMaxIdLength, " bytes)"));
  }
  return absl::OkStatus();
}

std::string RequestDigest(const google::protobuf::Message& request) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    request.SerializeToCodedStream(&coded);
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  // A request is at most a few KiB: one call, no streaming context.
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    // Only on an OpenSSL failure (out of memory): the raw bytes still tell
    // one request from another, if not as compactly.
    return absl::BytesToHexString(bytes);
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), static_cast<size_t>(size)));
}

IdempotencyKey IdempotencyKeyFor(const std::string& method, const std::string& principal,
                                 int64_t target, const std::string& request_id,
                                 const google::protobuf::Message& request) {
  IdempotencyKey key;
  key.scope = method;
  // "/" separates the parts; the principal is escaped so that no name can
  // make two different (principal, target, request_id) spell one key. The
  // target is a number and request_id comes last.
  key.key = absl::StrCat(absl::StrReplaceAll(principal, {{"%", "%25"}, {"/", "%2F"}}), "/", target,
                         "/", request_id);
  key.request_id = request_id;
  key.request_digest = RequestDigest(request);
  return key;
}

absl::StatusOr<bool> FindStoredAnswer(storage::UnitOfWork& uow, const IdempotencyKey& key,
                                      google::protobuf::Message* answer) {
  ASSIGN_OR_RETURN(std::optional<storage::StoredResponse> seen,
                   uow.FindResponse(key.scope, key.key));
  if (!seen) return false;
  if (!seen->request_digest.empty() && seen->request_digest != key.request_digest) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id ", key.request_id, " was already used for a different request"));
  }
  if (!answer->ParseFromString(seen->response)) {
    return absl::InternalError(absl::StrCat("stored response for ", key.scope, " is corrupt"));
  }
  return true;
}

absl::Status SaveAnswer(storage::UnitOfWork& uow, const IdempotencyKey& key,
                        const google::protobuf::Message& answer) {
  return uow.SaveResponse(key.scope, key.key, answer.SerializeAsString(), key.request_digest);
}

}  // namespace collections::server
