// The overdue feed's plausibility bounds as a table: which dates a row may
// carry, relative to its as-of date and the business date, under the
// shipped policy and under a policy that sets its own bounds or none.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "workflow/dates.h"
#include "workflow/policy.h"
#include "workflow/state_machine.h"

namespace collections::workflow {
namespace {

const absl::CivilDay kBusinessDate(2026, 11, 29);

v1::DelinquencyRecord Row(absl::CivilDay as_of, absl::CivilDay due) {
  v1::DelinquencyRecord r;
  r.set_loan_id("L1");
  *r.mutable_as_of() = DayToProto(as_of);
  *r.mutable_oldest_unpaid_due_date() = DayToProto(due);
  r.mutable_borrower()->set_borrower_id("B1");
  r.mutable_overdue()->set_principal_fen(100'000);
  return r;
}

struct DateRow {
  std::string name;
  absl::CivilDay as_of;
  absl::CivilDay due;
  int max_years_overdue;     // the policy's; -1: the shipped default
  int max_as_of_days_ahead;  // likewise
  std::string error_field;   // empty: accepted
};

class IntakeDates : public ::testing::TestWithParam<DateRow> {};

TEST_P(IntakeDates, PlausibleDatesOnly) {
  const DateRow& row = GetParam();
  v1::Policy policy = DefaultPolicy();
  if (row.max_years_overdue >= 0) policy.mutable_intake()->set_max_years_overdue(row.max_years_overdue);
  if (row.max_as_of_days_ahead >= 0) {
    policy.mutable_intake()->set_max_as_of_days_ahead(row.max_as_of_days_ahead);
  }
  ASSERT_TRUE(ValidatePolicy(policy).ok());
  absl::Status s = ValidateDelinquencyRecord(Row(row.as_of, row.due), policy, kBusinessDate);
  if (row.error_field.empty()) {
    EXPECT_TRUE(s.ok()) << s;
    return;
  }
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  // The message starts with the field, as the import's per-row errors need.
  EXPECT_EQ(s.message().substr(0, row.error_field.size()), row.error_field) << s;
}

const absl::CivilDay kToday = kBusinessDate;

INSTANTIATE_TEST_SUITE_P(
    Table, IntakeDates,
    ::testing::Values(
        DateRow{"placeholder1900", kToday, absl::CivilDay(1900, 1, 1), -1, -1, "oldest_unpaid_due_date"},
        DateRow{"exactly30Years", kToday, absl::CivilDay(1996, 11, 29), -1, -1, ""},
        DateRow{"30YearsAndADay", kToday, absl::CivilDay(1996, 11, 28), -1, -1, "oldest_unpaid_due_date"},
        DateRow{"ordinary", kToday, kToday - 45, -1, -1, ""},
        // An old as-of is aged to the business date as it lands, so the
        // bound counts from the business date.
        DateRow{"oldAsOfOldDue", absl::CivilDay(1990, 6, 1), absl::CivilDay(1990, 1, 1), -1, -1, "oldest_unpaid_due_date"},
        DateRow{"asOfAMonthAhead", kToday + 31, kToday, -1, -1, ""},
        DateRow{"asOfTooFarAhead", kToday + 32, kToday, -1, -1, "as_of"},
        DateRow{"asOfYear9999", absl::CivilDay(9999, 1, 1), absl::CivilDay(9998, 12, 1), -1, -1, "as_of"},
        DateRow{"ownYearBound", kToday, kToday - 365 * 6, 5, -1, "oldest_unpaid_due_date"},
        DateRow{"ownYearBoundKept", kToday, kToday - 365 * 4, 5, -1, ""},
        DateRow{"ownAheadBound", kToday + 2, kToday, -1, 1, "as_of"},
        // A policy stored before the bounds existed (0) gets the defaults.
        DateRow{"unsetMeansDefaultYears", kToday, absl::CivilDay(1900, 1, 1), 0, 0, "oldest_unpaid_due_date"},
        DateRow{"unsetMeansDefaultAhead", kToday + 31, kToday, 0, 0, ""}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace collections::workflow
