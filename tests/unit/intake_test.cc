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
  if (row.max_years_overdue >= 0)
    policy.mutable_intake()->set_max_years_overdue(row.max_years_overdue);
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
    ::testing::Values(DateRow{"placeholder1900", kToday, absl::CivilDay(1900, 1, 1), -1, -1,
                              "oldest_unpaid_due_date"},
                      DateRow{"exactly30Years", kToday, absl::CivilDay(1996, 11, 29), -1, -1, ""},
                      DateRow{"30YearsAndADay", kToday, absl::CivilDay(1996, 11, 28), -1, -1,
                              "oldest_unpaid_due_date"},
                      DateRow{"ordinary", kToday, kToday - 45, -1, -1, ""},
                      // An old as-of is aged to the business date as it lands, so the
                      // bound counts from the business date.
                      DateRow{"oldAsOfOldDue", absl::CivilDay(1990, 6, 1),
                              absl::CivilDay(1990, 1, 1), -1, -1, "oldest_unpaid_due_date"},
                      DateRow{"asOfAMonthAhead", kToday + 31, kToday, -1, -1, ""},
                      DateRow{"asOfTooFarAhead", kToday + 32, kToday, -1, -1, "as_of"},
                      DateRow{"asOfYear9999", absl::CivilDay(9999, 1, 1),
                              absl::CivilDay(9998, 12, 1), -1, -1, "as_of"},
                      DateRow{"ownYearBound", kToday, kToday - 365 * 6, 5, -1,
                              "oldest_unpaid_due_date"},
                      DateRow{"ownYearBoundKept", kToday, kToday - 365 * 4, 5, -1, ""},
                      DateRow{"ownAheadBound", kToday + 2, kToday, -1, 1, "as_of"},
                      // A policy stored before the bounds existed (0) gets the defaults.
                      DateRow{"unsetMeansDefaultYears", kToday, absl::CivilDay(1900, 1, 1), 0, 0,
                              "oldest_unpaid_due_date"},
                      DateRow{"unsetMeansDefaultAhead", kToday + 31, kToday, 0, 0, ""}),
    [](const auto& info) { return info.param.name; });

// --- Notes per case per business date -------------------------------------------

struct NotesRow {
  std::string name;
  int cap;            // the policy's max_notes_per_day (0: default)
  int first_day;      // notes added on the business date
  int next_day;       // notes added the next business date
  int refused_first;  // how many of first_day's are refused
};

class NotesCap : public ::testing::TestWithParam<NotesRow> {};

TEST_P(NotesCap, BoundedPerBusinessDate) {
  const NotesRow& row = GetParam();
  v1::Policy policy = DefaultPolicy();
  policy.mutable_case_file()->set_max_notes_per_day(row.cap);
  ASSERT_TRUE(ValidatePolicy(policy).ok());
  v1::CaseEvent open;
  *open.mutable_business_date() = DayToProto(kBusinessDate);
  open.set_actor("ingest");
  open.set_case_id(3);
  *open.mutable_imported() = Row(kBusinessDate, kBusinessDate - 10);
  auto opened = Decide(v1::Case(), open, policy, absl::UnixEpoch());
  ASSERT_TRUE(opened.ok()) << opened.status();
  v1::Case c = opened->next;
  auto add = [&](absl::CivilDay day) {
    v1::CaseEvent e;
    *e.mutable_business_date() = DayToProto(day);
    e.set_actor("api");
    e.mutable_signal()->mutable_note()->set_text("called the branch");
    auto t = Decide(c, e, policy, absl::UnixEpoch());
    if (t.ok()) c = t->next;
    return t.status();
  };
  int refused = 0;
  for (int i = 0; i < row.first_day; ++i) {
    absl::Status s = add(kBusinessDate);
    if (!s.ok()) {
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
      EXPECT_NE(s.message().find("case_file.max_notes_per_day"), absl::string_view::npos) << s;
      ++refused;
    }
  }
  EXPECT_EQ(refused, row.refused_first);
  for (int i = 0; i < row.next_day; ++i) {
    EXPECT_TRUE(add(kBusinessDate + 1).ok()) << row.name << " next day, note " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, NotesCap,
                         ::testing::Values(NotesRow{"underTheCap", 3, 3, 3, 0},
                                           NotesRow{"overTheCap", 3, 5, 3, 2},
                                           NotesRow{"unsetMeansFifty", 0, 52, 50, 2},
                                           NotesRow{"shippedDefaultFifty", 50, 51, 1, 1}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace collections::workflow
