// Contact compliance as a table: case holds, the window's edges in the
// borrower's zone (DST days included), and the call caps.
#include "workflow/compliance.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "workflow/policy.h"

namespace collections::workflow {
namespace {

using ::testing::HasSubstr;

absl::TimeZone Zone(const char* name) {
  absl::TimeZone tz;
  EXPECT_TRUE(absl::LoadTimeZone(name, &tz)) << name;
  return tz;
}

class ComplianceTest : public ::testing::Test {
 protected:
  const v1::ContactRules& rules_ = DefaultPolicy().contact();  // 08:00-21:00; 3, 6, 20
  const absl::TimeZone shanghai_ = Zone("Asia/Shanghai");
  absl::Time At(int y, int m, int d, int hh, int mm, int ss = 0) const {
    return absl::FromCivil(absl::CivilSecond(y, m, d, hh, mm, ss), shanghai_);
  }
  ContactDecision Check(absl::Time now, v1::TaskType type = v1::TASK_TYPE_REMINDER_CALL,
                        CallCounts calls = {}, v1::Holds holds = {}) const {
    return CheckContact(rules_, holds, type, now, shanghai_, calls);
  }
};

TEST_F(ComplianceTest, WindowEdgesAreHalfOpen) {
  EXPECT_THAT(Check(At(2026, 11, 29, 7, 59, 59)).hold, HasSubstr("outside the contact window"));
  EXPECT_EQ(Check(At(2026, 11, 29, 7, 59, 59)).recheck, At(2026, 11, 29, 8, 0));
  EXPECT_EQ(Check(At(2026, 11, 29, 8, 0)).hold, "");
  EXPECT_EQ(Check(At(2026, 11, 29, 20, 59, 59)).hold, "");
  const ContactDecision late = Check(At(2026, 11, 29, 21, 0));
  EXPECT_THAT(late.hold, HasSubstr("08:00-21:00 Asia/Shanghai"));
  EXPECT_EQ(late.recheck, At(2026, 11, 30, 8, 0));
  // Every contact task keeps the window, not only calls.
  EXPECT_NE(Check(At(2026, 11, 29, 23, 0), v1::TASK_TYPE_SMS_REMINDER).hold, "");
  EXPECT_NE(Check(At(2026, 11, 29, 23, 0), v1::TASK_TYPE_HOME_VISIT).hold, "");
}

TEST_F(ComplianceTest, TheBorrowersZoneDecidesIncludingOnDstDays) {
  const absl::TimeZone london = Zone("Europe/London");
  // 2026-03-29: clocks go from 01:00 GMT to 02:00 BST; 08:00 BST is 07:00 UTC.
  const absl::Time before = absl::FromCivil(absl::CivilSecond(2026, 3, 29, 0, 30, 0), london);
  const ContactDecision d = CheckContact(rules_, {}, v1::TASK_TYPE_SMS_REMINDER, before, london, {});
  EXPECT_EQ(d.recheck, absl::FromCivil(absl::CivilSecond(2026, 3, 29, 7, 0, 0), absl::UTCTimeZone()));
  // The same instant, 08:30 in Shanghai, is inside there.
  EXPECT_EQ(CheckContact(rules_, {}, v1::TASK_TYPE_SMS_REMINDER, before, shanghai_, {}).hold, "");
  // A window opening inside a spring-forward gap opens when the gap ends
  // (02:00 BST, 01:00 UTC).
  v1::ContactRules early = rules_;
  early.set_window_start_minute(90);  // 01:30, skipped that day
  EXPECT_EQ(NextWindowOpening(early, london,
                              absl::FromCivil(absl::CivilSecond(2026, 3, 29, 0, 10, 0), london)),
            absl::FromCivil(absl::CivilSecond(2026, 3, 29, 1, 0, 0), absl::UTCTimeZone()));
}

TEST_F(ComplianceTest, CallCapsCountCallsOnly) {
  const absl::Time noon = At(2026, 11, 29, 12, 0);
  EXPECT_EQ(Check(noon, v1::TASK_TYPE_REMINDER_CALL, {5, 2, 19}).hold, "");
  const ContactDecision connected = Check(noon, v1::TASK_TYPE_COUNSELLING_CALL, {3, 3, 3});
  EXPECT_THAT(connected.hold, HasSubstr("3 connected calls today (cap 3)"));
  EXPECT_EQ(connected.recheck, At(2026, 11, 30, 8, 0));  // the next day's window
  EXPECT_THAT(Check(noon, v1::TASK_TYPE_PLAN_FOLLOW_UP_CALL, {6, 0, 6}).hold,
              HasSubstr("6 call attempts today (cap 6)"));
  EXPECT_THAT(Check(noon, v1::TASK_TYPE_REMINDER_CALL, {0, 0, 20}).hold,
              HasSubstr("20 call attempts in 7 days (cap 20)"));
  // SMS, visits and letters are not calls.
  EXPECT_EQ(Check(noon, v1::TASK_TYPE_SMS_REMINDER, {9, 9, 99}).hold, "");
  EXPECT_EQ(Check(noon, v1::TASK_TYPE_LEGAL_LETTER, {9, 9, 99}).hold, "");
}

TEST_F(ComplianceTest, CaseHoldsComeFirstAndWaitForAnEvent) {
  const absl::Time noon = At(2026, 11, 29, 12, 0);
  const struct {
    void (v1::Holds::*set)(bool);
    const char* says;
  } rows[] = {
      {&v1::Holds::set_cease_contact, "cease-contact"},
      {&v1::Holds::set_dispute_open, "open dispute"},
      {&v1::Holds::set_bankruptcy, "bankruptcy"},
      {&v1::Holds::set_deceased, "deceased"},
  };
  for (const auto& row : rows) {
    v1::Holds holds;
    (holds.*row.set)(true);
    const ContactDecision d = Check(At(2026, 11, 29, 23, 0), v1::TASK_TYPE_SMS_REMINDER, {}, holds);
    EXPECT_THAT(d.hold, HasSubstr(row.says));
    EXPECT_EQ(d.recheck, absl::InfiniteFuture());
  }
  v1::Holds hardship;  // pauses legal action, not contact
  hardship.set_hardship(true);
  EXPECT_EQ(Check(noon, v1::TASK_TYPE_REMINDER_CALL, {}, hardship).hold, "");
}

TEST_F(ComplianceTest, LocalDaysStartAtLocalMidnight) {
  EXPECT_EQ(LocalDayStart(At(2026, 11, 29, 0, 30), shanghai_), At(2026, 11, 29, 0, 0));
  EXPECT_EQ(LocalDayStart(At(2026, 11, 29, 23, 59), shanghai_, -6), At(2026, 11, 23, 0, 0));
  EXPECT_EQ(LocalDayStart(At(2026, 11, 29, 12, 0), shanghai_, 1), At(2026, 11, 30, 0, 0));
}

}  // namespace
}  // namespace collections::workflow
