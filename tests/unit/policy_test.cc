#include "workflow/policy.h"

#include <string>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace collections::workflow {
namespace {

TEST(Policy, ShippedDefaultReproducesTheStrategy) {
  const v1::Policy& p = DefaultPolicy();
  ASSERT_TRUE(ValidatePolicy(p).ok());
  EXPECT_EQ(p.day_bands().mild_max_days(), 30);
  EXPECT_EQ(p.day_bands().moderate_max_days(), 90);
  EXPECT_EQ(p.amount_bands().moderate_from_fen(), 500'000);
  EXPECT_EQ(p.amount_bands().severe_above_fen(), 2'000'000);
  EXPECT_EQ(p.combination_rule(), v1::COMBINATION_RULE_MORE_SEVERE);
  EXPECT_EQ(p.credit_rule().raise_levels(), 1);
  EXPECT_EQ(p.legal().min_days_past_due(), 90);
  EXPECT_EQ(ClassPolicyFor(p, v1::CASE_CLASS_MILD).stage(), v1::STAGE_REMINDER);
  EXPECT_EQ(ClassPolicyFor(p, v1::CASE_CLASS_MODERATE).stage(), v1::STAGE_COUNSELLING);
  EXPECT_EQ(ClassPolicyFor(p, v1::CASE_CLASS_SEVERE).stage(), v1::STAGE_LEGAL_ACTION);
  EXPECT_EQ(p.hardship().divert_to_size(), 2);
  EXPECT_EQ(p.contact().window_start_minute(), 8 * 60);
  EXPECT_EQ(p.contact().window_end_minute(), 21 * 60);
  EXPECT_EQ(p.contact().max_connected_calls_per_day(), 3);
  EXPECT_EQ(p.contact().max_call_attempts_per_day(), 6);
  EXPECT_EQ(p.payment_allocation(0), v1::AMOUNT_COMPONENT_PENALTY);
  EXPECT_EQ(p.intake().max_years_overdue(), 30);
  EXPECT_EQ(p.intake().max_as_of_days_ahead(), 31);
  EXPECT_EQ(p.case_file().max_notes_per_day(), 50);
  EXPECT_EQ(AuditRetentionYears(p), 5);
}

// Audit records are kept five years at least: the default, and the least a
// policy may ask.
TEST(Policy, AuditRetentionIsFiveYearsAtLeast) {
  v1::Policy p = DefaultPolicy();
  p.mutable_audit()->set_retention_years(0);
  EXPECT_TRUE(ValidatePolicy(p).ok());
  EXPECT_EQ(AuditRetentionYears(p), 5);
  p.mutable_audit()->set_retention_years(7);
  EXPECT_TRUE(ValidatePolicy(p).ok());
  EXPECT_EQ(AuditRetentionYears(p), 7);
  p.mutable_audit()->set_retention_years(4);
  absl::Status s = ValidatePolicy(p);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("at least five years"), absl::string_view::npos) << s;
}

TEST(Policy, SyntaxErrorsNameTheLine) {
  auto p = ParsePolicy("name: \"x\"\nday_bands { mild_max_days: thirty }\n");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("line 2"), absl::string_view::npos) << p.status();
}

// Each row breaks one rule of a valid policy.
struct Broken {
  std::string name;
  void (*mutate)(v1::Policy&);
  std::string expect_in_message;
};

class PolicyValidation : public ::testing::TestWithParam<Broken> {};

TEST_P(PolicyValidation, Rejects) {
  v1::Policy p = DefaultPolicy();
  GetParam().mutate(p);
  absl::Status s = ValidatePolicy(p);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(GetParam().expect_in_message), absl::string_view::npos) << s;
  // The same text fails to load from a file too.
  std::string text;
  google::protobuf::TextFormat::PrintToString(p, &text);
  EXPECT_FALSE(ParsePolicy(text).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Rules, PolicyValidation,
    ::testing::Values(
        Broken{"dayBandsUnordered",
               [](v1::Policy& p) { p.mutable_day_bands()->set_moderate_max_days(30); },
               "day_bands"},
        Broken{"dayBandZero", [](v1::Policy& p) { p.mutable_day_bands()->set_mild_max_days(0); },
               "day_bands"},
        Broken{"amountBandsUnordered",
               [](v1::Policy& p) { p.mutable_amount_bands()->set_severe_above_fen(100); },
               "amount_bands"},
        Broken{"noCombinationRule", [](v1::Policy& p) { p.clear_combination_rule(); },
               "combination_rule"},
        Broken{"classMissing", [](v1::Policy& p) { p.mutable_classes()->RemoveLast(); },
               "CASE_CLASS_SEVERE is missing"},
        Broken{"classTwice", [](v1::Policy& p) { *p.add_classes() = p.classes(0); },
               "appears twice"},
        Broken{"classWithoutActions", [](v1::Policy& p) { p.mutable_classes(1)->clear_actions(); },
               "has no actions"},
        Broken{"stagesOutOfOrder",
               [](v1::Policy& p) { p.mutable_classes(2)->set_stage(v1::STAGE_REMINDER); },
               "milder"},
        Broken{"actionWithoutQueue",
               [](v1::Policy& p) { p.mutable_classes(0)->mutable_actions(0)->clear_queue(); },
               "queue"},
        Broken{"allocationTwice",
               [](v1::Policy& p) { p.set_payment_allocation(1, v1::AMOUNT_COMPONENT_PENALTY); },
               "payment_allocation"},
        Broken{"allocationShort",
               [](v1::Policy& p) { p.mutable_payment_allocation()->RemoveLast(); },
               "payment_allocation"},
        Broken{"windowInverted",
               [](v1::Policy& p) { p.mutable_contact()->set_window_end_minute(300); },
               "contact window"},
        Broken{"capsZero",
               [](v1::Policy& p) { p.mutable_contact()->set_max_call_attempts_per_day(0); },
               "contact caps"},
        Broken{"legalDayZero", [](v1::Policy& p) { p.mutable_legal()->set_min_days_past_due(0); },
               "legal"},
        Broken{"waiverPercentOver100",
               [](v1::Policy& p) { p.mutable_concessions()->set_agent_max_waiver_percent(101); },
               "concessions"},
        Broken{"yearsOverdueNegative",
               [](v1::Policy& p) { p.mutable_intake()->set_max_years_overdue(-1); },
               "intake.max_years_overdue"},
        Broken{"yearsOverdueOver100",
               [](v1::Policy& p) { p.mutable_intake()->set_max_years_overdue(101); },
               "intake.max_years_overdue"},
        Broken{"asOfAheadNegative",
               [](v1::Policy& p) { p.mutable_intake()->set_max_as_of_days_ahead(-1); },
               "intake.max_as_of_days_ahead"},
        Broken{"asOfAheadOverAYear",
               [](v1::Policy& p) { p.mutable_intake()->set_max_as_of_days_ahead(367); },
               "intake.max_as_of_days_ahead"},
        Broken{"notesPerDayNegative",
               [](v1::Policy& p) { p.mutable_case_file()->set_max_notes_per_day(-1); },
               "case_file.max_notes_per_day"},
        Broken{"notesPerDayOver1000",
               [](v1::Policy& p) { p.mutable_case_file()->set_max_notes_per_day(1001); },
               "case_file.max_notes_per_day"},
        Broken{"auditRetentionFourYears",
               [](v1::Policy& p) { p.mutable_audit()->set_retention_years(4); },
               "audit.retention_years"},
        Broken{"auditRetentionNegative",
               [](v1::Policy& p) { p.mutable_audit()->set_retention_years(-1); },
               "audit.retention_years"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace collections::workflow
