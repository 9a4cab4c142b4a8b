// Contact compliance as a table: case holds, the window's edges in the
// borrower's zone (DST days included), the call caps with calls not yet
// reported counted as reservations, and which holds an event lifts.
#include "workflow/compliance.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/str_cat.h"
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
  const ContactDecision d =
      CheckContact(rules_, {}, v1::TASK_TYPE_SMS_REMINDER, before, london, {});
  EXPECT_EQ(d.recheck,
            absl::FromCivil(absl::CivilSecond(2026, 3, 29, 7, 0, 0), absl::UTCTimeZone()));
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

TEST_F(ComplianceTest, HoldReasonsHaveABoundedKindFromTheirBeginning) {
  const absl::Time noon = At(2026, 11, 29, 12, 0);
  auto kind = [](const std::string& reason) {
    // Whole, and as the metrics' grouped read cuts it.
    const absl::string_view cut = absl::string_view(reason).substr(0, kHoldKindPrefixLength);
    EXPECT_EQ(HoldKindOf(reason), HoldKindOf(cut)) << reason;
    return std::string(HoldKindOf(cut));
  };
  EXPECT_EQ(kind(Check(At(2026, 11, 29, 23, 0)).hold), "contact_window");
  EXPECT_EQ(kind(Check(noon, v1::TASK_TYPE_REMINDER_CALL, {0, 0, 20}).hold), "call_cap");
  const struct {
    void (v1::Holds::*set)(bool);
    const char* kind;
  } rows[] = {
      {&v1::Holds::set_cease_contact, "cease_contact"},
      {&v1::Holds::set_dispute_open, "dispute"},
      {&v1::Holds::set_bankruptcy, "bankruptcy"},
      {&v1::Holds::set_deceased, "deceased"},
  };
  for (const auto& row : rows) {
    v1::Holds holds;
    (holds.*row.set)(true);
    EXPECT_EQ(kind(Check(noon, v1::TASK_TYPE_SMS_REMINDER, {}, holds).hold), row.kind);
  }
  EXPECT_EQ(kind(absl::StrCat(kRetryHoldPrefix, "12 of 20 failed: busy")), "retry");
  EXPECT_EQ(kind("held by hand"), "other");
  EXPECT_EQ(kind(""), "");
}

TEST_F(ComplianceTest, CallsNotYetReportedCountAgainstTheConnectedCap) {
  const absl::Time noon = At(2026, 11, 29, 12, 0);
  const struct {
    CallCounts calls;  // attempts today, connected today, attempts in 7 days, unreported
    const char* hold;  // "" when the call may go out
  } rows[] = {
      {{2, 2, 2, 0}, ""},
      {{3, 3, 3, 0}, "3 connected calls today (cap 3)"},
      {{3, 2, 3, 1}, "2 connected calls today + 1 not yet reported (cap 3)"},
      {{3, 0, 3, 3}, "0 connected calls today + 3 not yet reported (cap 3)"},
      {{3, 1, 3, 1}, ""},
      {{5, 2, 5, 0}, ""},  // three of the five ended unconnected
      {{6, 0, 6, 2}, "6 call attempts today (cap 6)"},
  };
  for (const auto& row : rows) {
    const ContactDecision d = Check(noon, v1::TASK_TYPE_COUNSELLING_CALL, row.calls);
    if (row.hold[0] == '\0') {
      EXPECT_EQ(d.hold, "") << row.calls.unreported_today;
    } else {
      EXPECT_THAT(d.hold, HasSubstr(row.hold));
      // The next day's window; while calls are out, a minute (a report or a
      // release may free a place).
      EXPECT_EQ(d.recheck,
                row.calls.unreported_today > 0 ? noon + absl::Minutes(1) : At(2026, 11, 30, 8, 0));
    }
  }
}

// What a claim does: check, then reserve, call by call. However the calls
// are batched, a borrower never gets more calls out than the connected cap
// allows, until calls end unconnected.
TEST_F(ComplianceTest, ReservationsKeepEveryBatchWithinTheConnectedCap) {
  const absl::Time noon = At(2026, 11, 29, 12, 0);
  auto claim = [&](CallCounts& calls, int wanted) {
    int granted = 0;
    for (int i = 0; i < wanted; ++i) {
      if (!Check(noon, v1::TASK_TYPE_COUNSELLING_CALL, calls).hold.empty()) break;
      ReserveCall(calls);
      ++granted;
    }
    return granted;
  };
  const struct {
    std::vector<int> batches;   // calls asked for by successive claims
    std::vector<bool> endings;  // then how the granted ones end (reached?)
    int granted;                // calls handed out by the batches
    int granted_after;          // a further claim of 20, after the endings
  } rows[] = {
      {{20}, {true, true, true}, 3, 0},
      {{1, 1, 1, 1}, {true, true, true}, 3, 0},
      {{2, 2}, {true, false, true}, 3, 1},  // one ended unconnected
      {{4}, {false, false, false}, 3, 3},   // none connected: the attempts
      {{20}, {}, 3, 0},                     // unreported (lapsed) still count
      {{1}, {false}, 1, 3},
  };
  for (const auto& row : rows) {
    CallCounts calls;
    int granted = 0;
    for (int n : row.batches) granted += claim(calls, n);
    EXPECT_EQ(granted, row.granted);
    for (bool reached : row.endings) EndCall(calls, reached);
    EXPECT_EQ(claim(calls, 20), row.granted_after);
    EXPECT_LE(calls.connected_today + calls.unreported_today, rules_.max_connected_calls_per_day());
    EXPECT_LE(calls.attempts_today, rules_.max_call_attempts_per_day());
  }
}

TEST_F(ComplianceTest, WhichEventsLiftAContactHold) {
  auto holds = [](bool dispute, bool cease, bool bankruptcy, bool deceased, bool hardship) {
    v1::Holds h;
    h.set_dispute_open(dispute);
    h.set_cease_contact(cease);
    h.set_bankruptcy(bankruptcy);
    h.set_deceased(deceased);
    h.set_hardship(hardship);
    return h;
  };
  const struct {
    v1::Holds before, after;
    bool lifted;
  } rows[] = {
      {holds(true, false, false, false, false), holds(false, false, false, false, false), true},
      {holds(true, true, false, false, false), holds(false, true, false, false, false), true},
      {holds(false, true, false, false, false), holds(false, false, false, false, false), true},
      {holds(false, false, false, false, false), holds(true, false, false, false, false), false},
      {holds(true, false, false, false, false), holds(true, false, false, false, false), false},
      {holds(false, false, false, false, true), holds(false, false, false, false, false), false},
      {holds(false, false, true, false, false), holds(false, false, false, false, false), true},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(ContactHoldLifted(row.before, row.after), row.lifted)
        << row.before.ShortDebugString() << " -> " << row.after.ShortDebugString();
  }
  // The reasons a case hold leaves on a task, and only those, are lifted by
  // such an event (a window, a cap or a failure's retry wait stays).
  const absl::Time noon = At(2026, 11, 29, 12, 0);
  for (const v1::Holds& h :
       {holds(true, false, false, false, false), holds(false, true, false, false, false),
        holds(false, false, true, false, false), holds(false, false, false, true, false)}) {
    EXPECT_TRUE(IsCaseHoldReason(Check(noon, v1::TASK_TYPE_SMS_REMINDER, {}, h).hold));
  }
  EXPECT_FALSE(IsCaseHoldReason(Check(At(2026, 11, 29, 23, 0)).hold));
  EXPECT_FALSE(IsCaseHoldReason(Check(noon, v1::TASK_TYPE_REMINDER_CALL, {3, 3, 3, 0}).hold));
  EXPECT_FALSE(IsCaseHoldReason("attempt 1 of 5 failed: dialer down"));
  EXPECT_FALSE(IsCaseHoldReason(""));
}

TEST_F(ComplianceTest, LocalDaysStartAtLocalMidnight) {
  EXPECT_EQ(LocalDayStart(At(2026, 11, 29, 0, 30), shanghai_), At(2026, 11, 29, 0, 0));
  EXPECT_EQ(LocalDayStart(At(2026, 11, 29, 23, 59), shanghai_, -6), At(2026, 11, 23, 0, 0));
  EXPECT_EQ(LocalDayStart(At(2026, 11, 29, 12, 0), shanghai_, 1), At(2026, 11, 30, 0, 0));
}

}  // namespace
}  // namespace collections::workflow
