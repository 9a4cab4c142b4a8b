// The storage suite: event log plus snapshot (docs/design.md, decision 2).
// See store_fixture.h for the backends and the fixture.
#include <optional>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "tests/storage/store_fixture.h"
#include "workflow/dates.h"
#include "workflow/policy.h"

namespace collections::storage {
namespace {

using google::protobuf::util::MessageDifferencer;

TEST_P(StoreTest, ReplayOfStoredEventsRebuildsTheStoredCase) {
  v1::Policy policy = workflow::DefaultPolicy();
  ASSERT_TRUE(store_->Write([&](UnitOfWork& u) { return u.PutPolicy(policy).status(); }).ok());
  ASSERT_EQ(policy.version(), 1);

  int64_t case_id = 0;
  absl::Time now = kNow;
  // Each step as a service runs it: load, decide, apply under the version.
  auto step = [&](v1::CaseEvent e) {
    now += absl::Minutes(7);
    absl::Status s = store_->Write([&](UnitOfWork& u) -> absl::Status {
      v1::Case current;
      if (case_id == 0) {
        absl::StatusOr<int64_t> id = u.AllocateIds("case", 1);
        if (!id.ok()) return id.status();
        e.set_case_id(*id);
      } else {
        absl::StatusOr<std::optional<v1::Case>> c = u.LoadCase(case_id);
        if (!c.ok()) return c.status();
        current = **c;
      }
      absl::StatusOr<workflow::Transition> t = workflow::Decide(current, e, policy, now);
      if (!t.ok()) return t.status();
      if (auto s = u.Apply(*t, current.version()); !s.ok()) return s;
      case_id = t->next.case_id();
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << workflow::EventKindName(e) << ": " << s;
  };
  auto event = [](v1::Date day, const std::string& actor) {
    v1::CaseEvent e;
    *e.mutable_business_date() = day;
    e.set_actor(actor);
    return e;
  };

  v1::CaseEvent imported = event(D(2026, 11, 1), "ingest:core");
  v1::DelinquencyRecord& r = *imported.mutable_imported();
  r.set_loan_id("L-replay");
  *r.mutable_as_of() = D(2026, 11, 1);
  *r.mutable_oldest_unpaid_due_date() = D(2026, 10, 20);
  r.mutable_borrower()->set_borrower_id("B-1");
  r.mutable_borrower()->set_name("Zhang Wei");
  r.mutable_borrower()->add_phones("+86 139 0000 0000");
  r.mutable_borrower()->set_address("8 Binjiang Rd, Hangzhou");
  r.mutable_borrower()->set_region("ZJ");
  r.set_product("mortgage");
  r.set_principal_outstanding_fen(800'000 * CNY);
  r.mutable_overdue()->set_principal_fen(3'000 * CNY);
  r.mutable_overdue()->set_interest_fen(400 * CNY);
  r.mutable_overdue()->set_penalty_fen(50 * CNY);
  r.mutable_credit()->set_score_band(v1::CREDIT_BAND_GOOD);
  step(imported);  // 12 days: mild, REMINDER
  ASSERT_NE(case_id, 0);

  v1::CaseEvent aged = event(D(2026, 11, 19), "system:aging");
  aged.mutable_aged();
  step(aged);  // 30 days: still mild
  *aged.mutable_business_date() = D(2026, 11, 20);
  step(aged);  // 31 days: moderate, COUNSELLING

  v1::CaseEvent payment = event(D(2026, 11, 22), "ingest:core");
  payment.mutable_payment()->set_payment_id("P-1");
  payment.mutable_payment()->set_amount_fen(450 * CNY);
  *payment.mutable_payment()->mutable_paid_on() = D(2026, 11, 22);
  payment.mutable_payment()->set_channel("bank transfer");
  step(payment);

  v1::CaseEvent promise = event(D(2026, 11, 23), "agent:a7");
  promise.mutable_signal()->mutable_promise_to_pay()->set_amount_fen(1'000 * CNY);
  *promise.mutable_signal()->mutable_promise_to_pay()->mutable_due_date() = D(2026, 12, 5);
  step(promise);

  v1::CaseEvent note = event(D(2026, 11, 23), "agent:a7");
  note.mutable_signal()->mutable_note()->set_text("lost job in October");
  step(note);

  *aged.mutable_business_date() = D(2027, 1, 18);
  step(aged);  // 90 days
  *aged.mutable_business_date() = D(2027, 1, 19);
  step(aged);  // 91 days: severe, LEGAL_ACTION

  v1::CaseEvent hardship = event(D(2027, 1, 20), "agent:a7");
  hardship.mutable_signal()->mutable_hardship_declared()->set_reason("illness");
  step(hardship);

  absl::StatusOr<v1::Case> stored = store_->GetCase(case_id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  absl::StatusOr<std::vector<v1::CaseEvent>> events = Events(case_id);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(static_cast<int64_t>(events->size()), stored->version());
  for (size_t i = 0; i < events->size(); ++i) {
    EXPECT_EQ((*events)[i].sequence(), static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(stored->version(), 9);
  EXPECT_EQ(stored->days_past_due(), 91);
  EXPECT_EQ(stored->paid_total_fen(), 450 * CNY);
  EXPECT_EQ(stored->stage(), v1::STAGE_LEGAL_ACTION) << stored->DebugString();

  absl::StatusOr<v1::Policy> stored_policy = store_->GetPolicy(1);
  ASSERT_TRUE(stored_policy.ok());
  absl::StatusOr<v1::Case> replayed =
      workflow::Replay(*events, [&](int64_t version) -> const v1::Policy* {
        return version == 1 ? &*stored_policy : nullptr;
      });
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(*replayed, *stored)) << diff;
  EXPECT_TRUE(MessageDifferencer::Equals(*replayed, *stored));
}

}  // namespace
}  // namespace collections::storage
