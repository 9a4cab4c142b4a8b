// The audit log: the hash chain (storage/audit.h), appending a row on the
// writer (WriterConnection::Transaction::AppendAudit) and the reads
// (Store::ListAuditRecords, Store::VerifyAuditChain).
#include <openssl/evp.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "soci/soci.h"
#include "storage/audit.h"
#include "storage/prepared_statements.h"
#include "storage/sql.h"
#include "storage/store.h"
#include "storage/store_impl.h"
#include "storage/writer_transaction.h"

namespace collections::storage {
namespace {

void Field(std::string& out, const char* name, const std::string& value) {
  absl::StrAppend(&out, name, "=", value.size(), ":", value, "\n");
}

// Any constant works; it only has to be the same for every server sharing
// the database.
constexpr long long kAuditLockKey = 0x436f6c6c41756474;  // "CollAudt"

constexpr char kColumns[] =
    "id, recorded_at_us, principal, certificate, peer, action, case_id, detail, previous_hash, "
    "hash";

// The columns of kColumns, bound by a statement's into().
struct AuditRow {
  long long id = 0, recorded_at_us = 0, case_id = 0;
  std::string principal, certificate, peer, action, detail, previous_hash, hash;

  void Into(soci::details::prepare_temp_type& q) {
    q, soci::into(id), soci::into(recorded_at_us), soci::into(principal), soci::into(certificate),
        soci::into(peer), soci::into(action), soci::into(case_id), soci::into(detail),
        soci::into(previous_hash), soci::into(hash);
  }
  AuditRecord Record() const {
    AuditRecord r;
    r.id = id;
    r.recorded_at = absl::FromUnixMicros(recorded_at_us);
    r.entry.principal = principal;
    r.entry.certificate = certificate;
    r.entry.peer = peer;
    r.entry.action = action;
    r.entry.case_id = case_id;
    r.entry.detail = detail;
    r.previous_hash = previous_hash;
    r.hash = hash;
    return r;
  }
};

}  // namespace

std::string AuditCanonical(const AuditRecord& r) {
  std::string out = "collections.audit.v1\n";
  Field(out, "id", absl::StrCat(r.id));
  Field(out, "recorded_at_us", absl::StrCat(absl::ToUnixMicros(r.recorded_at)));
  Field(out, "principal", r.entry.principal);
  Field(out, "certificate", r.entry.certificate);
  Field(out, "peer", r.entry.peer);
  Field(out, "action", r.entry.action);
  Field(out, "case_id", absl::StrCat(r.entry.case_id));
  Field(out, "detail", r.entry.detail);
  Field(out, "previous_hash", r.previous_hash);
  return out;
}

std::string AuditHash(const AuditRecord& record) {
  const std::string canonical = AuditCanonical(record);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(canonical.data(), canonical.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    return "";  // never expected; an empty hash matches no stored one
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), static_cast<size_t>(size)));
}

absl::Status WriterConnection::Transaction::AppendAudit(const AuditEntry& entry) {
  if (!poisoned_.ok()) return poisoned_;
  // Whole microseconds: what the column holds is what is hashed.
  audit_.push_back({entry, absl::FromUnixMicros(absl::ToUnixMicros(w_.options_.now()))});
  return absl::OkStatus();
}

absl::Status WriterConnection::AppendPendingAudit() {
  if (audit_pending_.empty()) return absl::OkStatus();
  std::vector<PendingAudit> pending;
  pending.swap(audit_pending_);
  try {
    // The chain is linear: the rows are appended after reading the last
    // one, in the transaction about to commit. On SQLite the writer holds
    // the database's write lock; on PostgreSQL this lock serialises every
    // writer's and server's appends until the commit. Taken last, after
    // every row lock the batch needed, so that no writer waits for a row
    // while holding it.
    if (backend_ == Backend::kPostgres) {
      sql_ << "SELECT pg_advisory_xact_lock(" << kAuditLockKey << ")";
    }
    Statements& s = *st_;
    long long last_id = 0;
    std::string last_hash = kAuditGenesisHash;
    if (FetchOne(s.last_audit)) {
      last_id = s.a_last_id;
      last_hash = s.a_last_hash;
    }
    for (const PendingAudit& p : pending) {
      AuditRecord r;
      r.id = ++last_id;
      r.recorded_at = p.at;
      r.entry = p.entry;
      r.previous_hash = last_hash;
      r.hash = AuditHash(r);
      s.a_id = r.id;
      s.a_at_us = absl::ToUnixMicros(r.recorded_at);
      s.a_principal = r.entry.principal;
      s.a_certificate = r.entry.certificate;
      s.a_peer = r.entry.peer;
      s.a_action = r.entry.action;
      s.a_case_id = r.entry.case_id;
      s.a_detail = r.entry.detail;
      s.a_previous_hash = r.previous_hash;
      s.a_hash = r.hash;
      s.insert_audit.execute(true);
      last_hash = r.hash;
    }
    return absl::OkStatus();
  } catch (...) {
    return StatusFromCurrentException("append audit records");
  }
}

absl::StatusOr<std::vector<AuditRecord>> Store::ListAuditRecords(const AuditFilter& f) {
  return impl_->Read<std::vector<AuditRecord>>(
      "list audit records", [&](soci::session& sql) -> absl::StatusOr<std::vector<AuditRecord>> {
        // Placeholders numbered, values sized before binding (SOCI keeps
        // pointers to them).
        std::vector<long long> ints;
        ints.reserve(4);
        auto param = [&](long long value) {
          ints.push_back(value);
          return absl::StrCat(":p", ints.size());
        };
        std::string query =
            absl::StrCat("SELECT ", kColumns, " FROM audit_log WHERE id > ", param(f.after_id));
        if (f.case_id != 0) absl::StrAppend(&query, " AND case_id = ", param(f.case_id));
        if (f.from != absl::InfinitePast()) {
          absl::StrAppend(&query, " AND recorded_at_us >= ", param(absl::ToUnixMicros(f.from)));
        }
        if (f.to != absl::InfiniteFuture()) {
          absl::StrAppend(&query, " AND recorded_at_us < ", param(absl::ToUnixMicros(f.to)));
        }
        const bool by_principal = !f.principal.empty();
        if (by_principal) absl::StrAppend(&query, " AND principal = :principal");
        absl::StrAppend(&query, " ORDER BY id LIMIT :n");
        const long long limit = std::clamp(f.limit, 1, kMaxListRows);
        AuditRow row;
        soci::details::prepare_temp_type q = (sql.prepare << query);
        for (const long long& v : ints) q, soci::use(v);
        if (by_principal) q, soci::use(f.principal);
        q, soci::use(limit);
        row.Into(q);
        soci::statement st(q);
        st.execute();
        std::vector<AuditRecord> out;
        while (st.fetch()) out.push_back(row.Record());
        return out;
      });
}

absl::StatusOr<AuditVerification> Store::VerifyAuditChain() {
  return impl_->Read<AuditVerification>(
      "verify audit chain", [&](soci::session& sql) -> absl::StatusOr<AuditVerification> {
        AuditVerification v;
        v.last_hash = kAuditGenesisHash;
        AuditRow row;
        soci::details::prepare_temp_type q =
            (sql.prepare << absl::StrCat("SELECT ", kColumns, " FROM audit_log ORDER BY id"));
        row.Into(q);
        soci::statement st(q);
        st.execute();
        auto broken = [&v](AuditVerification::Problem problem, int64_t id, std::string reason) {
          v.problem = problem;
          v.broken_id = id;
          v.reason = std::move(reason);
          return v;
        };
        while (st.fetch()) {
          const AuditRecord r = row.Record();
          ++v.rows_checked;
          if (AuditHash(r) != r.hash) {
            return broken(
                AuditVerification::Problem::kEdited, r.id,
                absl::StrCat("row ", r.id, " was edited: its hash does not match its contents"));
          }
          if (r.id != v.last_id + 1) {
            const std::string missing = r.id - 1 == v.last_id + 1
                                            ? absl::StrCat("row ", v.last_id + 1)
                                            : absl::StrCat("rows ", v.last_id + 1, "..", r.id - 1);
            return broken(AuditVerification::Problem::kDeleted, r.id,
                          absl::StrCat(missing, " deleted: row ", r.id, " follows ",
                                       v.last_id == 0 ? std::string("the start of the log")
                                                      : absl::StrCat("row ", v.last_id)));
          }
          if (r.previous_hash != v.last_hash) {
            return broken(
                AuditVerification::Problem::kDeleted, r.id,
                absl::StrCat("row ", r.id, "'s previous hash does not match ",
                             v.last_id == 0 ? std::string("the genesis hash")
                                            : absl::StrCat("row ", v.last_id, "'s hash"),
                             ": a row before it was deleted and the rest renumbered, or replaced"));
          }
          v.last_id = r.id;
          v.last_hash = r.hash;
        }
        return v;
      });
}

}  // namespace collections::storage
