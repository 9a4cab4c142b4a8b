// The storage suite: the audit log's hash chain (migration 8). A row edited
// or deleted straight in the database, as someone with the database's
// credentials could, is found by VerifyAuditChain, which names the row.
#include "storage/audit.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "soci/soci.h"
#include "tests/storage/store_fixture.h"

namespace collections::storage {
namespace {

AuditEntry Entry(const std::string& principal, const std::string& action, int64_t case_id,
                 const std::string& detail) {
  AuditEntry e;
  e.principal = principal;
  e.peer = "ipv4:10.0.0.7:51234";
  e.action = action;
  e.case_id = case_id;
  e.detail = detail;
  return e;
}

// Appends `n` rows, alternating two principals, case ids 1..n.
void AppendRows(Store& store, int n) {
  for (int i = 1; i <= n; ++i) {
    ASSERT_TRUE(store
                    .Write([i](UnitOfWork& uow) {
                      return uow.AppendAudit(Entry(i % 2 ? "ada" : "bob", "GetCase", i,
                                                   absl::StrCat("events after 0, page ", i)));
                    })
                    .ok());
  }
}

TEST_P(StoreTest, AuditChainIsLinkedAndVerifies) {
  ReopenAt(kNow);
  AppendRows(*store_, 5);
  absl::StatusOr<std::vector<AuditRecord>> all = store_->ListAuditRecords(AuditFilter());
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].id, 1);
  EXPECT_EQ((*all)[0].previous_hash, kAuditGenesisHash);
  for (size_t i = 0; i < all->size(); ++i) {
    const AuditRecord& r = (*all)[i];
    EXPECT_EQ(r.id, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(r.hash.size(), 64u);
    EXPECT_EQ(r.hash, AuditHash(r));
    EXPECT_EQ(r.recorded_at, kNow);  // the store's clock, not the wall's
    EXPECT_EQ(r.entry.peer, "ipv4:10.0.0.7:51234");
    if (i > 0) {
      EXPECT_EQ(r.previous_hash, (*all)[i - 1].hash);
    }
  }
  absl::StatusOr<AuditVerification> v = store_->VerifyAuditChain();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->problem, AuditVerification::Problem::kNone) << v->reason;
  EXPECT_EQ(v->rows_checked, 5);
  EXPECT_EQ(v->last_id, 5);
  EXPECT_EQ(v->last_hash, all->back().hash);
}

// Several rows of one commit (claims sharing a group commit): one chain,
// linked in the order they were appended.
TEST_P(StoreTest, AuditRowsOfOneCommitAreLinkedInTheirOrder) {
  ReopenAt(kNow);
  AppendRows(*store_, 1);
  ASSERT_TRUE(store_
                  ->Write([](UnitOfWork& uow) {
                    for (int i = 2; i <= 5; ++i) {
                      AuditEntry e = Entry("carol", "ClaimTasks", 0, absl::StrCat("tasks ", i));
                      e.certificate = absl::StrCat("CN=agent-", i);
                      RETURN_IF_ERROR(uow.AppendAudit(e));
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  AppendRows(*store_, 1);
  absl::StatusOr<std::vector<AuditRecord>> all = store_->ListAuditRecords(AuditFilter());
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 6u);
  for (size_t i = 0; i < all->size(); ++i) {
    const AuditRecord& r = (*all)[i];
    EXPECT_EQ(r.id, static_cast<int64_t>(i) + 1);
    EXPECT_EQ(r.hash, AuditHash(r));
    if (i > 0) EXPECT_EQ(r.previous_hash, (*all)[i - 1].hash);
    if (i >= 1 && i <= 4) {
      EXPECT_EQ(r.entry.detail, absl::StrCat("tasks ", i + 1));
      EXPECT_EQ(r.entry.certificate, absl::StrCat("CN=agent-", i + 1));
      EXPECT_EQ(r.entry.principal, "carol");
    }
  }
  absl::StatusOr<AuditVerification> v = store_->VerifyAuditChain();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->problem, AuditVerification::Problem::kNone) << v->reason;
  EXPECT_EQ(v->rows_checked, 6);
}

TEST_P(StoreTest, AuditListFiltersByPrincipalCaseAndTimeAndPages) {
  ReopenAt(kNow);
  AppendRows(*store_, 6);
  AuditFilter by_ada;
  by_ada.principal = "ada";
  auto ada = store_->ListAuditRecords(by_ada);
  ASSERT_TRUE(ada.ok()) << ada.status();
  ASSERT_EQ(ada->size(), 3u);
  for (const AuditRecord& r : *ada) EXPECT_EQ(r.entry.principal, "ada");

  AuditFilter by_case;
  by_case.case_id = 4;
  auto four = store_->ListAuditRecords(by_case);
  ASSERT_TRUE(four.ok());
  ASSERT_EQ(four->size(), 1u);
  EXPECT_EQ((*four)[0].entry.principal, "bob");

  AuditFilter page;
  page.after_id = 2;
  page.limit = 2;
  auto p = store_->ListAuditRecords(page);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].id, 3);

  AuditFilter later;
  later.from = kNow + absl::Seconds(1);
  auto none = store_->ListAuditRecords(later);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  AuditFilter window;
  window.from = kNow;
  window.to = kNow + absl::Seconds(1);
  auto all = store_->ListAuditRecords(window);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 6u);
}

TEST_P(StoreTest, AuditRowEditedInTheDatabaseIsNamed) {
  AppendRows(*store_, 5);
  {
    auto sql = Raw();
    *sql << "UPDATE audit_log SET detail = 'nothing to see' WHERE id = 3";
  }
  absl::StatusOr<AuditVerification> v = store_->VerifyAuditChain();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->problem, AuditVerification::Problem::kEdited);
  EXPECT_EQ(v->broken_id, 3);
  EXPECT_NE(v->reason.find("row 3 was edited"), std::string::npos) << v->reason;
}

TEST_P(StoreTest, AuditRowEditedWithItsHashRecomputedBreaksTheNextLink) {
  AppendRows(*store_, 5);
  auto all = store_->ListAuditRecords(AuditFilter());
  ASSERT_TRUE(all.ok());
  AuditRecord forged = (*all)[2];
  forged.entry.principal = "someone-else";
  forged.hash = AuditHash(forged);
  {
    auto sql = Raw();
    *sql << "UPDATE audit_log SET principal = :p, hash = :h WHERE id = 3",
        soci::use(forged.entry.principal), soci::use(forged.hash);
  }
  absl::StatusOr<AuditVerification> v = store_->VerifyAuditChain();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->problem, AuditVerification::Problem::kDeleted);
  EXPECT_EQ(v->broken_id, 4);
  EXPECT_NE(v->reason.find("row 4's previous hash does not match row 3's hash"), std::string::npos)
      << v->reason;
}

TEST_P(StoreTest, AuditRowDeletedFromTheMiddleIsNamed) {
  AppendRows(*store_, 5);
  {
    auto sql = Raw();
    *sql << "DELETE FROM audit_log WHERE id = 3";
  }
  absl::StatusOr<AuditVerification> v = store_->VerifyAuditChain();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->problem, AuditVerification::Problem::kDeleted);
  EXPECT_EQ(v->broken_id, 4);
  EXPECT_EQ(v->reason, "row 3 deleted: row 4 follows row 2");
  EXPECT_EQ(v->rows_checked, 3);
}

TEST_P(StoreTest, AuditRowsRolledBackWithTheirCommandLeaveNoGap) {
  AppendRows(*store_, 2);
  absl::Status failed = store_->Write([](UnitOfWork& uow) {
    if (absl::Status s = uow.AppendAudit(Entry("ada", "PutPolicy", 0, "version 2")); !s.ok()) {
      return s;
    }
    return absl::FailedPreconditionError("the change it records failed");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kFailedPrecondition);
  AppendRows(*store_, 1);
  auto v = store_->VerifyAuditChain();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->problem, AuditVerification::Problem::kNone) << v->reason;
  EXPECT_EQ(v->last_id, 3);
}

// Commands from many threads are grouped into commits by the writers
// (several in parallel on PostgreSQL), each in its own savepoint: the chain
// stays one line.
TEST_P(StoreTest, AuditChainStaysLinearUnderConcurrentAppends) {
  StoreOptions options;
  options.writer_connections = 8;
  store_.reset();
  OpenStore(options);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        absl::Status s = store_->Write([t, i](UnitOfWork& uow) {
          return uow.AppendAudit(Entry(absl::StrCat("worker", t), "ClaimTasks", i, "tasks 1"));
        });
        if (!s.ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto v = store_->VerifyAuditChain();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->problem, AuditVerification::Problem::kNone) << v->reason;
  EXPECT_EQ(v->rows_checked, 100);
}

}  // namespace
}  // namespace collections::storage
