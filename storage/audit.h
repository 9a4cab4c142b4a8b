// The audit log's rows and their hash chain (migration 8, table audit_log).
// Each row's hash is SHA-256 over a canonical encoding of its fields and the
// hash of the row before it (64 zeros for the first), so that an edited,
// removed or re-ordered row breaks the chain from that row on. Plain values
// and pure functions: thread-safe. For code outside storage/ (the server's
// AuditService and the tests).
#ifndef COLLECTIONS_STORAGE_AUDIT_H_
#define COLLECTIONS_STORAGE_AUDIT_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace collections::storage {

// What one audit row records; the store adds the id, the time and the hashes.
// `detail` is short and never holds personal data (no names, phone numbers,
// addresses, tokens): case and task ids, versions, dates.
struct AuditEntry {
  std::string principal;    // the authenticated caller's name
  std::string certificate;  // its client certificate's identity; empty for a token
  std::string peer;         // "ipv4:10.0.0.7:51234"; empty for the server itself
  std::string action;       // the RPC's method name ("GetCase", "PutPolicy", ...)
  int64_t case_id = 0;      // the case it concerns; 0 when none or several
  std::string detail;
};

struct AuditRecord {
  int64_t id = 0;  // 1, 2, 3, ... without gaps
  absl::Time recorded_at;
  AuditEntry entry;
  std::string previous_hash;  // lowercase hex; kAuditGenesisHash for row 1
  std::string hash;           // lowercase hex SHA-256 of AuditCanonical()
};

// The previous hash of the first row.
inline constexpr char kAuditGenesisHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The bytes a row's hash covers: "collections.audit.v1\n", then for each of
// id, recorded_at_us (microseconds since the Unix epoch), principal,
// certificate, peer, action, case_id, detail and previous_hash in that order
// one line "<name>=<byte length>:<value>\n" (numbers in decimal). Lengths
// make the encoding unambiguous whatever the values hold.
std::string AuditCanonical(const AuditRecord& record);
// Lowercase hex SHA-256 of AuditCanonical(record) (OpenSSL EVP).
std::string AuditHash(const AuditRecord& record);

// Filter and page of Store::ListAuditRecords. Defaults do not filter.
struct AuditFilter {
  std::string principal;                   // empty: anyone
  int64_t case_id = 0;                     // 0: any case
  absl::Time from = absl::InfinitePast();  // recorded_at >= from
  absl::Time to = absl::InfiniteFuture();  // recorded_at < to
  int64_t after_id = 0;                    // page cursor
  int limit = 100;                         // clamped to 1..kMaxListRows
};

// What Store::VerifyAuditChain found.
struct AuditVerification {
  enum class Problem { kNone, kEdited, kDeleted };
  int64_t rows_checked = 0;
  int64_t last_id = 0;  // the chain's head, to anchor outside the database
  std::string last_hash;
  Problem problem = Problem::kNone;  // kNone: intact
  int64_t broken_id = 0;             // the first row where the chain breaks
  std::string reason;                // what is wrong there, for people
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_AUDIT_H_
