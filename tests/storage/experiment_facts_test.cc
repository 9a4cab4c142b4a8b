// The figures an assigned case's case_arms row carries for the experiment
// report (migration 14, storage/experiment_facts.h), kept by the writer with
// each transition of the case; a case in no experiment writes none.
#include "storage/experiment_facts.h"

#include <gtest/gtest.h>

#include "storage/experiments.h"
#include "tests/storage/store_fixture.h"
#include "workflow/dates.h"

namespace collections::storage {
namespace {

struct ArmRow {
  long long rolls_on_day = -1, cured_day = -1, recovered_fen = -1, cost_fen = -1;
  int handoff = -1, dispute = -1;
};

TEST_P(StoreTest, AnAssignedCasesFiguresAreKeptWithItsTransitions) {
  // Opened in experiment 9 (the case carries it), then its arm recorded as
  // an import in an experiment does.
  workflow::Transition opened = Opening(41, "EXP-1");
  opened.next.set_experiment_id(9);
  opened.next.set_experiment_arm("challenger-1");
  ASSERT_TRUE(Apply(opened, 0).ok());
  CaseArm arm;
  arm.case_id = 41;
  arm.experiment_id = 9;
  arm.arm = 1;
  arm.day = absl::CivilDay(2026, 11, 1);
  arm.bucket = 1;
  ASSERT_TRUE(store_->Write([&](UnitOfWork& uow) { return RecordCaseArm(uow, arm); }).ok());

  auto sql = Raw();
  auto read = [&] {
    ArmRow r;
    *sql << "SELECT rolls_on_day, cured_day, recovered_fen, cost_fen, handoff, dispute FROM "
            "case_arms WHERE case_id = 41",
        soci::into(r.rolls_on_day), soci::into(r.cured_day), soci::into(r.recovered_fen),
        soci::into(r.cost_fen), soci::into(r.handoff), soci::into(r.dispute);
    return r;
  };
  ArmRow row = read();
  // Due since 2026-10-20, assigned in bucket 1-30: it rolls into 31-60 on
  // the 31st day past due.
  EXPECT_EQ(row.rolls_on_day, workflow::DayNumber(absl::CivilDay(2026, 10, 20)) + 31);
  EXPECT_EQ(row.cured_day, kNever);
  EXPECT_EQ(row.recovered_fen, 0);
  EXPECT_EQ(row.cost_fen, 0);
  EXPECT_EQ(row.handoff, 0);
  EXPECT_EQ(row.dispute, 0);

  // A dispute, and a handoff with it.
  workflow::Transition disputed = Following(opened.next);
  disputed.event.mutable_signal()->mutable_dispute_opened()->set_reason("amount contested");
  disputed.handoff = workflow::HandoffSpec{v1::HANDOFF_KIND_DISPUTED, "contested", "firm-a"};
  ASSERT_TRUE(Apply(disputed, 1).ok());
  row = read();
  EXPECT_EQ(row.dispute, 1);
  EXPECT_EQ(row.handoff, 1);
  EXPECT_EQ(row.cured_day, kNever);

  // Paid in full two days later, 200 CNY of it beyond what was owed: cured,
  // closed (no roll any more), 2,800 CNY recovered.
  workflow::Transition paid = Following(disputed.next, kNow + absl::Hours(48));
  *paid.event.mutable_business_date() = D(2026, 11, 3);
  *paid.next.mutable_business_date() = D(2026, 11, 3);
  v1::Payment& p = *paid.event.mutable_payment();
  p.set_payment_id("EXP-P1");
  p.set_amount_fen(3'000 * CNY);
  p.set_unallocated_fen(200 * CNY);
  *p.mutable_paid_on() = D(2026, 11, 3);
  paid.event.set_stage_before(v1::STAGE_REMINDER);
  paid.event.set_stage_after(v1::STAGE_RESOLVED);
  paid.next.set_stage(v1::STAGE_RESOLVED);
  paid.next.set_close_reason(v1::CLOSE_REASON_CURED);
  paid.next.mutable_overdue()->set_principal_fen(0);
  ASSERT_TRUE(Apply(paid, 2).ok());
  row = read();
  EXPECT_EQ(row.cured_day, workflow::DayNumber(absl::CivilDay(2026, 11, 3)));
  EXPECT_EQ(row.recovered_fen, 2'800 * CNY);
  EXPECT_EQ(row.rolls_on_day, kNever);
  EXPECT_EQ(row.dispute, 1);  // flags stay once set
  EXPECT_EQ(row.handoff, 1);

  // A case in no experiment: its payment writes no row.
  v1::Case plain = Open("PLAIN-1");
  workflow::Transition plain_paid = Following(plain);
  v1::Payment& q = *plain_paid.event.mutable_payment();
  q.set_payment_id("PLAIN-P1");
  q.set_amount_fen(100 * CNY);
  *q.mutable_paid_on() = D(2026, 11, 1);
  ASSERT_TRUE(Apply(plain_paid, plain.version()).ok());
  long long rows = 0;
  *sql << "SELECT COUNT(*) FROM case_arms", soci::into(rows);
  EXPECT_EQ(rows, 1);
}

}  // namespace
}  // namespace collections::storage
