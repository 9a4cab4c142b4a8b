// AuditEngine: what AuditService does (listing the audit log and verifying
// its hash chain), and how the other engines describe a call for the log
// (AuditEntryFor) and record a read of personal data (RecordRead). The log
// itself, its rows and its chain are storage's (storage/audit.h).
//
// Thread-safe. CheckList never blocks; List, Verify and RecordRead block
// (database reads and a write) and belong on the executor.
#ifndef COLLECTIONS_SERVER_AUDIT_ENGINE_H_
#define COLLECTIONS_SERVER_AUDIT_ENGINE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "collections/v1/audit_service.pb.h"
#include "security/principal.h"
#include "storage/audit.h"
#include "storage/store.h"

namespace collections::server {

// The row that records `caller` doing `action` (a method name) on
// `case_id` (0: none or several). `detail` must hold no personal data.
storage::AuditEntry AuditEntryFor(const security::Principal& caller, std::string action,
                                  int64_t case_id, std::string detail);

// Writes `entry` through the store's writer; `done` hears once it is
// durable, or the error. For reads of personal data: the read answers only
// after the row is durable, so nothing is read unrecorded. `done` runs on
// the writer thread and must not block.
void RecordRead(storage::Store& store, storage::AuditEntry entry,
                std::function<void(absl::Status)> done);

// Blocking, for the executor: runs `read` while `entry` is being written,
// and returns once both are done with the write's status. A caller answers
// with what it read only when this is OK, so that no personal data leaves
// unrecorded; the read costs no more than the slower of the two.
absl::Status RecordedRead(storage::Store& store, storage::AuditEntry entry,
                          const std::function<void()>& read);
// Blocking, for the executor: writes `entry` and waits until it is durable
// (a read whose case is known only once read, e.g. by loan id).
absl::Status RecordAfterRead(storage::Store& store, storage::AuditEntry entry);

class AuditEngine {
 public:
  explicit AuditEngine(storage::Store* store) : store_(store) {}

  // INVALID_ARGUMENT naming the field; nothing read.
  static absl::StatusOr<storage::AuditFilter> CheckList(const v1::ListAuditRecordsRequest& request);
  absl::StatusOr<v1::ListAuditRecordsResponse> List(const storage::AuditFilter& filter);
  absl::StatusOr<v1::VerifyAuditChainResponse> Verify();

 private:
  storage::Store* const store_;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_AUDIT_ENGINE_H_
