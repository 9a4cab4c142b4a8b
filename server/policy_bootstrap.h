// The policy collectionsd starts with: loaded from a textproto file (or the
// shipped default), validated, and stored as a new version only when it
// differs from the newest stored one.
#ifndef COLLECTIONS_SERVER_POLICY_BOOTSTRAP_H_
#define COLLECTIONS_SERVER_POLICY_BOOTSTRAP_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "collections/v1/policy.pb.h"
#include "storage/store.h"

namespace collections::server {

// Reads and validates the policy in `path`; empty `path`: the shipped
// default, validated too. The version field is cleared (the store assigns
// versions). INVALID_ARGUMENT naming the file for a bad policy, NOT_FOUND
// or PERMISSION_DENIED when the file cannot be read.
absl::StatusOr<v1::Policy> LoadPolicy(const std::string& path);

struct StoredPolicy {
  int64_t version = 0;  // the current version after the call
  bool added = false;   // whether the call stored a new version
};

// Stores `policy` as a new version unless the newest stored version equals
// it (ignoring the version field). Safe when several replicas start at once
// on one database: a version stored meanwhile is compared against too.
absl::StatusOr<StoredPolicy> EnsurePolicyStored(storage::Store& store, const v1::Policy& policy);

// Equal apart from the version field.
bool SamePolicy(const v1::Policy& a, const v1::Policy& b);

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_POLICY_BOOTSTRAP_H_
