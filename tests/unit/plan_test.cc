// Repayment plan schedules as tables: month ends, leap years, exact sums,
// deferrals with and without interest, restructuring interest; the policy
// checks on a proposal; approval limits; matching payments to instalments.
#include "workflow/plan.h"

#include <numeric>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"

namespace collections::workflow {
namespace {

constexpr int64_t CNY = 100;
const absl::CivilDay kToday(2026, 11, 29);

struct MonthRow {
  absl::CivilDay from;
  int months;
  absl::CivilDay want;
};

TEST(Plan, AddMonthsClampsToTheMonthEnd) {
  for (const MonthRow& r : std::vector<MonthRow>{
           {absl::CivilDay(2026, 1, 31), 1, absl::CivilDay(2026, 2, 28)},
           {absl::CivilDay(2028, 1, 31), 1, absl::CivilDay(2028, 2, 29)},  // leap year
           {absl::CivilDay(2026, 1, 31), 2, absl::CivilDay(2026, 3, 31)},
           {absl::CivilDay(2026, 3, 31), 1, absl::CivilDay(2026, 4, 30)},
           {absl::CivilDay(2026, 12, 15), 1, absl::CivilDay(2027, 1, 15)},
           {absl::CivilDay(2027, 2, 28), 12, absl::CivilDay(2028, 2, 28)},
           {absl::CivilDay(2028, 2, 29), 12, absl::CivilDay(2029, 2, 28)},
           {absl::CivilDay(2026, 8, 31), 6, absl::CivilDay(2027, 2, 28)},
       }) {
    EXPECT_EQ(AddMonths(r.from, r.months), r.want) << r.from << " + " << r.months;
  }
}

struct SpreadRow {
  int64_t total;
  int periods;
  std::vector<int64_t> want;
};

TEST(Plan, SpreadEvenlyNeverLosesAFen) {
  for (const SpreadRow& r : std::vector<SpreadRow>{
           {100, 3, {34, 33, 33}},
           {101, 3, {34, 34, 33}},
           {99, 3, {33, 33, 33}},
           {1, 3, {1, 0, 0}},
           {1'000'000'007, 12, {}},
       }) {
    auto inst = SpreadEvenly(r.total, r.periods, absl::CivilDay(2026, 1, 31));
    ASSERT_EQ(static_cast<int>(inst.size()), r.periods);
    int64_t sum = 0;
    for (size_t i = 0; i < inst.size(); ++i) {
      sum += inst[i].amount_fen();
      if (!r.want.empty()) {
        EXPECT_EQ(inst[i].amount_fen(), r.want[i]) << r.total << "/" << i;
      }
      EXPECT_EQ(inst[i].number(), static_cast<int>(i) + 1);
    }
    EXPECT_EQ(sum, r.total);
    EXPECT_EQ(inst[1].due_date().day(), 28);  // 31 January + 1 month
  }
}

// A moderate case: 10 dpd, 6,000 CNY overdue (300 penalty, 700 interest,
// 5,000 principal), 500,000 CNY principal outstanding.
v1::Case ModerateCase() {
  v1::Case c;
  c.set_case_id(9);
  c.set_stage(v1::STAGE_COUNSELLING);
  c.mutable_classification()->set_case_class(v1::CASE_CLASS_MODERATE);
  c.mutable_overdue()->set_penalty_fen(300 * CNY);
  c.mutable_overdue()->set_interest_fen(700 * CNY);
  c.mutable_overdue()->set_principal_fen(5000 * CNY);
  c.set_principal_outstanding_fen(500'000 * CNY);
  return c;
}

v1::ProposePlanRequest Request(v1::PlanKind kind, int periods) {
  v1::ProposePlanRequest r;
  r.set_case_id(9);
  r.set_kind(kind);
  r.set_periods(periods);
  *r.mutable_first_due_date() = DayToProto(absl::CivilDay(2026, 12, 31));
  return r;
}

int64_t Sum(const v1::Plan& p) {
  int64_t s = 0;
  for (const auto& i : p.instalments()) s += i.amount_fen();
  return s;
}

struct KindRow {
  std::string name;
  v1::PlanKind kind;
  int periods;
  int deferral_months;
  int64_t rate_bp;
  int64_t waiver_fen;
  int deferral_interest_bp;
  int64_t want_total;
  absl::CivilDay want_first_due;
  absl::CivilDay want_second_due;
};

class PlanKinds : public ::testing::TestWithParam<KindRow> {};

TEST_P(PlanKinds, ScheduleSumsExactlyToTheTotal) {
  const KindRow& r = GetParam();
  v1::Case c = ModerateCase();
  v1::Policy policy = DefaultPolicy();
  policy.mutable_plans()->set_deferral_interest_bp(r.deferral_interest_bp);
  // Deferral and restructuring are for genuine hardship.
  c.mutable_holds()->set_hardship(true);
  c.mutable_holds()->set_hardship_genuine(true);
  v1::ProposePlanRequest req = Request(r.kind, r.periods);
  req.set_deferral_months(r.deferral_months);
  req.set_new_rate_basis_points(r.rate_bp);
  req.set_waiver_fen(r.waiver_fen);
  auto plan = BuildPlan(c, req, policy, kToday);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->total_fen(), r.want_total);
  EXPECT_EQ(Sum(*plan), plan->total_fen());
  EXPECT_EQ(plan->instalments_size(), r.periods);
  EXPECT_EQ(plan->waiver_fen(), r.waiver_fen);
  EXPECT_EQ(*DayFromProto(plan->instalments(0).due_date(), "d"), r.want_first_due);
  EXPECT_EQ(*DayFromProto(plan->instalments(1).due_date(), "d"), r.want_second_due);
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, PlanKinds,
    ::testing::Values(
        // 6,000 CNY over 7 months: 857.15 x 1 + 857.14 x 6 = 6,000.00.
        KindRow{"catchUp", v1::PLAN_KIND_CATCH_UP, 7, 0, 0, 0, 0, 6000 * CNY,
                absl::CivilDay(2026, 12, 31), absl::CivilDay(2027, 1, 31)},
        KindRow{"catchUpWithWaiver", v1::PLAN_KIND_CATCH_UP, 3, 0, 0, 150 * CNY, 0, 5850 * CNY,
                absl::CivilDay(2026, 12, 31), absl::CivilDay(2027, 1, 31)},
        // The arrears over a longer term: never the principal not yet due.
        KindRow{"termExtension", v1::PLAN_KIND_TERM_EXTENSION, 60, 0, 0, 0, 0, 6000 * CNY,
                absl::CivilDay(2026, 12, 31), absl::CivilDay(2027, 1, 31)},
        // A zero-interest deferral of 2 months: the first instalment falls
        // on the last day of February.
        KindRow{"zeroInterestDeferral", v1::PLAN_KIND_DEFERRAL, 4, 2, 0, 0, 0, 6000 * CNY,
                absl::CivilDay(2027, 2, 28), absl::CivilDay(2027, 3, 31)},
        // 6% a year for 3 months on 6,000 CNY: 90 CNY.
        KindRow{"deferralWithInterest", v1::PLAN_KIND_DEFERRAL, 4, 3, 0, 0, 600, 6090 * CNY,
                absl::CivilDay(2027, 3, 31), absl::CivilDay(2027, 4, 30)},
        // 12% a year on a declining balance over 3 months: 60 + 40 + 20 CNY.
        KindRow{"restructuring", v1::PLAN_KIND_RESTRUCTURING, 3, 0, 1200, 0, 0, 6120 * CNY,
                absl::CivilDay(2026, 12, 31), absl::CivilDay(2027, 1, 31)}),
    [](const auto& info) { return info.param.name; });

struct BadRow {
  std::string name;
  void (*mutate)(v1::Case&, v1::ProposePlanRequest&);
  absl::StatusCode code;
  std::string message;
};

TEST(Plan, ProposalsOutsideThePolicyAreRefused) {
  for (const BadRow& b : std::vector<BadRow>{
           {"termBeyondPolicy", [](v1::Case&, v1::ProposePlanRequest&r) { r.set_periods(61); },
            absl::StatusCode::kInvalidArgument, "periods must be 1..60"},
           {"noPeriods", [](v1::Case&, v1::ProposePlanRequest&r) { r.set_periods(0); },
            absl::StatusCode::kInvalidArgument, "periods"},
           {"belowMinimumInstalment",
            [](v1::Case&c, v1::ProposePlanRequest&r) {
              c.mutable_overdue()->set_principal_fen(4000 * CNY);  // 5,000 CNY / 60 < 100 CNY
              r.set_periods(60);
            },
            absl::StatusCode::kInvalidArgument, "below the minimum instalment"},
           {"waiverBeyondPenalty",
            [](v1::Case&, v1::ProposePlanRequest&r) { r.set_waiver_fen(301 * CNY); },
            absl::StatusCode::kInvalidArgument, "exceeds the penalty"},
           {"bothWaivers",
            [](v1::Case&, v1::ProposePlanRequest&r) {
              r.set_waiver_fen(1);
              r.set_waiver_percent(10);
            },
            absl::StatusCode::kInvalidArgument, "alternatives"},
           {"kindNotForClass",
            [](v1::Case&, v1::ProposePlanRequest&r) { r.set_kind(v1::PLAN_KIND_DEFERRAL); },
            absl::StatusCode::kInvalidArgument, "not offered"},
           {"firstDueInThePast",
            [](v1::Case&, v1::ProposePlanRequest&r) {
              *r.mutable_first_due_date() = DayToProto(kToday - 1);
            },
            absl::StatusCode::kInvalidArgument, "first_due_date"},
           {"resolvedCase",
            [](v1::Case&c, v1::ProposePlanRequest&) { c.set_stage(v1::STAGE_RESOLVED); },
            absl::StatusCode::kFailedPrecondition, "no plan"},
           {"planAlreadyRunning",
            [](v1::Case&c, v1::ProposePlanRequest&) { c.set_active_plan_id(3); },
            absl::StatusCode::kFailedPrecondition, "already runs plan 3"},
       }) {
    v1::Case c = ModerateCase();
    v1::ProposePlanRequest r = Request(v1::PLAN_KIND_CATCH_UP, 6);
    b.mutate(c, r);
    auto plan = BuildPlan(c, r, DefaultPolicy(), kToday);
    EXPECT_EQ(plan.status().code(), b.code) << b.name << ": " << plan.status();
    EXPECT_NE(plan.status().message().find(b.message), absl::string_view::npos)
        << b.name << ": " << plan.status();
  }
}

// Issue 10: 1,000,000.00 CNY principal outstanding, 6,000.00 CNY overdue,
// 45 days past due, a 24-month term extension. The plan covers the arrears
// (6,000.00 in 24 instalments of 250.00); re-amortising the principal not
// yet due is core banking's business.
TEST(Plan, TermExtensionCoversTheArrearsNotThePrincipalNotYetDue) {
  v1::Case c = ModerateCase();
  c.set_principal_outstanding_fen(1'000'000 * CNY);
  c.set_days_past_due(45);
  auto plan = BuildPlan(c, Request(v1::PLAN_KIND_TERM_EXTENSION, 24), DefaultPolicy(), kToday);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->total_fen(), 6000 * CNY);
  ASSERT_EQ(plan->instalments_size(), 24);
  for (const auto& i : plan->instalments()) EXPECT_EQ(i.amount_fen(), 250 * CNY) << i.number();

  // The minimum instalment still applies: 5,900.00 over 60 months is 98.33.
  c.mutable_overdue()->set_principal_fen(4900 * CNY);
  auto small = BuildPlan(c, Request(v1::PLAN_KIND_TERM_EXTENSION, 60), DefaultPolicy(), kToday);
  EXPECT_EQ(small.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(small.status().message().find("below the minimum instalment 100.00"),
            absl::string_view::npos)
      << small.status();
}

TEST(Plan, WaiverPercentIsAShareOfThePenalty) {
  v1::ProposePlanRequest r = Request(v1::PLAN_KIND_CATCH_UP, 6);
  r.set_waiver_percent(50);
  auto plan = BuildPlan(ModerateCase(), r, DefaultPolicy(), kToday);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->waiver_fen(), 150 * CNY);
  EXPECT_EQ(plan->total_fen(), 5850 * CNY);
}

TEST(Plan, AgentsApproveWithinTheirLimitsOnlySupervisorsAbove) {
  const v1::Case c = ModerateCase();  // 300 CNY penalty
  v1::Plan plan;
  plan.set_waiver_fen(150 * CNY);  // 50%, and within 1,000 CNY
  EXPECT_FALSE(NeedsSupervisor(plan, c, DefaultPolicy()));
  plan.set_waiver_fen(150 * CNY + 1);  // just over 50%
  EXPECT_TRUE(NeedsSupervisor(plan, c, DefaultPolicy()));
  v1::Case big = c;
  big.mutable_overdue()->set_penalty_fen(10'000 * CNY);
  plan.set_waiver_fen(1000 * CNY + 1);  // 10%, but over the agent's amount
  EXPECT_TRUE(NeedsSupervisor(plan, big, DefaultPolicy()));
}

TEST(Plan, PaymentsPayInstalmentsInOrder) {
  auto plan =
      BuildPlan(ModerateCase(), Request(v1::PLAN_KIND_CATCH_UP, 3), DefaultPolicy(), kToday);
  ASSERT_TRUE(plan.ok());
  // 2,000 CNY each.
  EXPECT_TRUE(ApplyToInstalments(*plan, 1500 * CNY).empty());
  EXPECT_EQ(ApplyToInstalments(*plan, 2600 * CNY), (std::vector<int>{1, 2}));
  EXPECT_FALSE(FullyPaid(*plan));
  EXPECT_EQ(plan->instalments(2).paid_fen(), 100 * CNY);
  EXPECT_EQ(ApplyToInstalments(*plan, 5000 * CNY), (std::vector<int>{3}));
  EXPECT_TRUE(FullyPaid(*plan));
}

}  // namespace
}  // namespace collections::workflow
