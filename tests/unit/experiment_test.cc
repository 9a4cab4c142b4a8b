// Champion/challenger experiments, the pure parts, as tables: the
// assignment hash (fixed vectors, shares on 100,000 loan ids, stability),
// the scope and dates, the shape checks, the safeguards a challenger may not
// loosen, and the statistics against textbook examples with known answers.
#include "workflow/experiment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "workflow/dates.h"
#include "workflow/policy.h"

namespace collections::workflow {
namespace {

using ::testing::HasSubstr;

v1::Experiment ThreeArms() {
  v1::Experiment e;
  e.set_experiment_id(1);
  e.set_name("sms first");
  e.set_state(v1::EXPERIMENT_STATE_RUNNING);
  for (auto [name, version, share] : std::vector<std::tuple<const char*, int, int>>{
           {"champion", 1, 8000}, {"challenger-1", 2, 1000}, {"challenger-2", 3, 1000}}) {
    v1::ExperimentArm* arm = e.add_arms();
    arm->set_name(name);
    arm->set_policy_version(version);
    arm->set_share_bp(share);
  }
  return e;
}

// Computed independently with Python's hashlib:
//   int.from_bytes(sha256(f"{e}:{loan}".encode()).digest()[:8], "big") % 10000
TEST(AssignmentBucketTest, MatchesTheDocumentedHash) {
  struct Row {
    int64_t experiment_id;
    const char* loan_id;
    int bucket;
  };
  for (const Row& row : std::vector<Row>{
           {1, "L0001", 2326}, {1, "L0002", 497}, {7, "LOAN-123456", 7959}, {42, "", 3810}}) {
    EXPECT_EQ(AssignmentBucket(row.experiment_id, row.loan_id), row.bucket)
        << row.experiment_id << ":" << row.loan_id;
  }
}

TEST(AssignmentBucketTest, SharesWithinToleranceOn100000Loans) {
  const v1::Experiment e = ThreeArms();
  constexpr int kLoans = 100000;
  std::vector<int> counts(3, 0);
  for (int i = 0; i < kLoans; ++i) {
    ++counts[ArmForBucket(e, AssignmentBucket(1, absl::StrCat("LN", 1000000 + i)))];
  }
  for (int arm = 0; arm < 3; ++arm) {
    // Binomial: 4 standard deviations of the count (sd = sqrt(n p (1-p))),
    // about 1 in 15,000 of failing by chance, were the hash uniform (it is
    // fixed, so the result is too).
    const double p = e.arms(arm).share_bp() / 10000.0;
    const double sd = std::sqrt(kLoans * p * (1 - p));
    EXPECT_NEAR(counts[arm], kLoans * p, 4 * sd) << e.arms(arm).name();
  }
}

TEST(AssignmentBucketTest, SameLoanSameArmAndExperimentsAreIndependent) {
  const v1::Experiment e = ThreeArms();
  int moved = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string loan = absl::StrCat("L", i);
    EXPECT_EQ(ArmForBucket(e, AssignmentBucket(1, loan)),
              ArmForBucket(e, AssignmentBucket(1, loan)));
    if (AssignmentBucket(1, loan) != AssignmentBucket(2, loan)) ++moved;
  }
  // Another experiment draws afresh: almost every loan lands elsewhere.
  EXPECT_GT(moved, 990);
}

TEST(ArmForBucketTest, ArmsTakeConsecutiveRanges) {
  const v1::Experiment e = ThreeArms();
  struct Row {
    int bucket, arm;
  };
  for (const Row& row :
       std::vector<Row>{{0, 0}, {7999, 0}, {8000, 1}, {8999, 1}, {9000, 2}, {9999, 2}}) {
    EXPECT_EQ(ArmForBucket(e, row.bucket), row.arm) << row.bucket;
  }
}

TEST(TakesPartTest, ScopeDatesAndState) {
  v1::Experiment e = ThreeArms();
  *e.mutable_start_date() = DayToProto(absl::CivilDay(2026, 3, 1));
  *e.mutable_end_date() = DayToProto(absl::CivilDay(2026, 3, 31));
  e.mutable_scope()->add_classes(v1::CASE_CLASS_MILD);
  e.mutable_scope()->add_products("mortgage");
  const absl::CivilDay in(2026, 3, 15);
  struct Row {
    const char* what;
    std::function<void(v1::Experiment&)> change;
    absl::CivilDay day;
    v1::CaseClass case_class;
    const char* product;
    bool takes_part;
  };
  auto none = [](v1::Experiment&) {};
  for (const Row& row : std::vector<Row>{
           {"in scope", none, in, v1::CASE_CLASS_MILD, "mortgage", true},
           {"first day", none, absl::CivilDay(2026, 3, 1), v1::CASE_CLASS_MILD, "mortgage", true},
           {"last day", none, absl::CivilDay(2026, 3, 31), v1::CASE_CLASS_MILD, "mortgage", true},
           {"before", none, absl::CivilDay(2026, 2, 28), v1::CASE_CLASS_MILD, "mortgage", false},
           {"after", none, absl::CivilDay(2026, 4, 1), v1::CASE_CLASS_MILD, "mortgage", false},
           {"other class", none, in, v1::CASE_CLASS_SEVERE, "mortgage", false},
           {"other product", none, in, v1::CASE_CLASS_MILD, "car", false},
           {"paused", [](v1::Experiment& x) { x.set_state(v1::EXPERIMENT_STATE_PAUSED); }, in,
            v1::CASE_CLASS_MILD, "mortgage", false},
           {"region listed", [](v1::Experiment& x) { x.mutable_scope()->add_regions("GD"); }, in,
            v1::CASE_CLASS_MILD, "mortgage", false},
       }) {
    v1::Experiment x = e;
    row.change(x);
    EXPECT_EQ(TakesPart(x, row.day, row.case_class, row.product, "SH"), row.takes_part) << row.what;
  }
}

TEST(ValidateNewExperimentTest, RefusesMalformedShapes) {
  struct Row {
    const char* what;
    std::function<void(v1::Experiment&)> change;
    const char* message;  // "" when valid
  };
  for (const Row& row : std::vector<Row>{
           {"valid", [](v1::Experiment&) {}, ""},
           {"no name", [](v1::Experiment& e) { e.clear_name(); }, "experiment.name is required"},
           {"one arm",
            [](v1::Experiment& e) {
              e.mutable_arms()->DeleteSubrange(1, 2);
              e.mutable_arms(0)->set_share_bp(10000);
            },
            "1..9 challengers"},
           {"shares", [](v1::Experiment& e) { e.mutable_arms(2)->set_share_bp(999); },
            "sum to 9999"},
           {"zero share", [](v1::Experiment& e) { e.mutable_arms(2)->set_share_bp(0); },
            "arms[2].share_bp must be 1..10000"},
           {"duplicate", [](v1::Experiment& e) { e.mutable_arms(2)->set_name("challenger-1"); },
            "used twice"},
           {"bad name", [](v1::Experiment& e) { e.mutable_arms(1)->set_name("Big Arm"); },
            "[a-z0-9_-]"},
           {"challenger version",
            [](v1::Experiment& e) { e.mutable_arms(1)->set_policy_version(0); },
            "arms[1].policy_version is required"},
           {"dates",
            [](v1::Experiment& e) {
              *e.mutable_start_date() = DayToProto(absl::CivilDay(2026, 3, 2));
              *e.mutable_end_date() = DayToProto(absl::CivilDay(2026, 3, 1));
            },
            "end_date is before"},
           {"class",
            [](v1::Experiment& e) { e.mutable_scope()->add_classes(v1::CASE_CLASS_UNSPECIFIED); },
            "scope.classes"},
       }) {
    v1::Experiment e = ThreeArms();
    row.change(e);
    absl::Status s = ValidateNewExperiment(e);
    if (std::string(row.message).empty()) {
      EXPECT_TRUE(s.ok()) << row.what << ": " << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << row.what;
      EXPECT_THAT(std::string(s.message()), HasSubstr(row.message)) << row.what;
    }
  }
}

TEST(ValidateNewExperimentTest, NamesUnnamedArms) {
  v1::Experiment e = ThreeArms();
  for (auto& arm : *e.mutable_arms()) arm.clear_name();
  ASSERT_TRUE(ValidateNewExperiment(e).ok());
  EXPECT_EQ(e.arms(0).name(), "champion");
  EXPECT_EQ(e.arms(2).name(), "challenger-2");
}

TEST(CheckSafeguardsTest, RefusesAChallengerThatLoosensContactOrLegalRules) {
  struct Row {
    const char* what;
    std::function<void(v1::Policy&)> change;
    const char* rule;  // "" when allowed
  };
  for (const Row& row : std::vector<Row>{
           {"same", [](v1::Policy&) {}, ""},
           {"stricter",
            [](v1::Policy& p) {
              p.mutable_contact()->set_max_call_attempts_per_day(1);
              p.mutable_contact()->set_window_start_minute(600);
              p.mutable_legal()->set_min_days_past_due(120);
            },
            ""},
           {"other actions", [](v1::Policy& p) { p.mutable_classes(0)->clear_actions(); }, ""},
           {"earlier window",
            [](v1::Policy& p) { p.mutable_contact()->set_window_start_minute(420); },
            "contact.window_start_minute: 420 against the champion's 480"},
           {"later window", [](v1::Policy& p) { p.mutable_contact()->set_window_end_minute(1320); },
            "contact.window_end_minute"},
           {"more connected calls",
            [](v1::Policy& p) { p.mutable_contact()->set_max_connected_calls_per_day(9); },
            "contact.max_connected_calls_per_day"},
           {"more attempts",
            [](v1::Policy& p) { p.mutable_contact()->set_max_call_attempts_per_day(9); },
            "contact.max_call_attempts_per_day"},
           {"more attempts a week",
            [](v1::Policy& p) { p.mutable_contact()->set_max_call_attempts_per_7_days(99); },
            "contact.max_call_attempts_per_7_days"},
           {"other zone", [](v1::Policy& p) { p.mutable_contact()->set_default_time_zone("UTC"); },
            "contact.default_time_zone"},
           {"earlier legal day",
            [](v1::Policy& p) { p.mutable_legal()->set_min_days_past_due(60); },
            "legal.min_days_past_due"},
           {"shorter letter wait",
            [](v1::Policy& p) { p.mutable_legal()->set_letter_wait_days(1); },
            "legal.letter_wait_days"},
           {"no home visit",
            [](v1::Policy& p) { p.mutable_legal()->set_require_home_visit(false); },
            "legal.require_home_visit"},
           {"no hardship diversion", [](v1::Policy& p) { p.mutable_hardship()->clear_divert_to(); },
            "hardship.divert_to"},
       }) {
    v1::Policy champion = DefaultPolicy();
    champion.set_version(1);
    champion.mutable_legal()->set_require_home_visit(true);
    v1::Policy challenger = champion;
    challenger.set_version(2);
    row.change(challenger);
    absl::Status s = CheckSafeguards(champion, challenger, "challenger-1");
    if (std::string(row.rule).empty()) {
      EXPECT_TRUE(s.ok()) << row.what << ": " << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << row.what;
      EXPECT_THAT(std::string(s.message()), HasSubstr(row.rule)) << row.what;
      EXPECT_THAT(std::string(s.message()),
                  HasSubstr("challenger challenger-1 (policy version 2)"));
    }
  }
}

// Agresti, An Introduction to Categorical Data Analysis (2nd ed., 2007),
// section 2.2.3, the Physicians' Health Study: myocardial infarction in
// 189 of 11,034 on placebo and 104 of 11,037 on aspirin; difference of
// proportions 0.0077 with 95 % interval (0.005, 0.011).
TEST(ProportionDifferenceTest, AgrestiAspirinExample) {
  const Interval i = ProportionDifference(104, 11037, 189, 11034);
  EXPECT_NEAR(i.estimate, 0.0077, 0.00005);
  EXPECT_NEAR(i.low, 0.0047, 0.0001);
  EXPECT_NEAR(i.high, 0.0107, 0.0001);
  EXPECT_EQ(Verdict(i, /*higher_is_better=*/false), "challenger worse");
  EXPECT_EQ(Verdict(i, /*higher_is_better=*/true), "challenger better");
}

TEST(ProportionDifferenceTest, EqualRatesAreNotYetSignificant) {
  const Interval i = ProportionDifference(30, 100, 33, 100);
  EXPECT_NEAR(i.estimate, 0.03, 1e-12);
  EXPECT_LT(i.low, 0);
  EXPECT_EQ(Verdict(i, true), "not yet significant");
}

// Student's t table (e.g. any statistics textbook's appendix; NIST/SEMATECH
// e-Handbook of Statistical Methods, table 1.3.6.7.2): two-sided 95 %
// critical values.
TEST(StudentTQuantileTest, TableValues) {
  struct Row {
    double df, quantile;
  };
  for (const Row& row : std::vector<Row>{
           {1, 12.706}, {2, 4.303}, {5, 2.571}, {10, 2.228}, {25, 2.060}, {100, 1.984}}) {
    EXPECT_NEAR(StudentTQuantile(0.975, row.df), row.quantile, 0.0005) << row.df;
  }
  EXPECT_NEAR(StudentTQuantile(0.975, 1e7), kZ95, 1e-4);
  EXPECT_NEAR(StudentTQuantile(0.025, 10), -2.228, 0.0005);
}

Moments Of(const std::vector<double>& xs) {
  Moments m;
  for (double x : xs) {
    ++m.n;
    m.sum += x;
    m.sum_squares += x * x;
  }
  return m;
}

// Wikipedia, "Welch's t-test", Examples, example 1 (A1 and A2, 15 values
// each): t = -2.46, degrees of freedom 25.0 (two-sided p = 0.021). With
// t_{0.975, 24.99} = 2.060 the 95 % interval of mean(A2) - mean(A1) =
// 2.167 is 2.167 +- 2.060 * 0.882 = (0.349, 3.984).
TEST(WelchDifferenceTest, WikipediaExampleOne) {
  const Moments a1 = Of(
      {27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4});
  const Moments a2 = Of(
      {27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4});
  const WelchResult r = WelchDifference(a2, a1);  // mean(A1) - mean(A2)
  EXPECT_NEAR(r.t, -2.46, 0.005);
  EXPECT_NEAR(r.degrees_of_freedom, 25.0, 0.05);
  const WelchResult back = WelchDifference(a1, a2);
  EXPECT_NEAR(back.difference, 2.167, 0.001);
  EXPECT_NEAR(back.interval.low, 0.349, 0.002);
  EXPECT_NEAR(back.interval.high, 3.984, 0.002);
  EXPECT_EQ(Verdict(back.interval, true), "challenger better");
}

TEST(WelchDifferenceTest, NoSpreadGivesAPointInterval) {
  const WelchResult r = WelchDifference(Of({5, 5, 5}), Of({5, 5}));
  EXPECT_EQ(r.difference, 0);
  EXPECT_EQ(Verdict(r.interval, true), "not yet significant");
}

}  // namespace
}  // namespace collections::workflow
