// Classification as a table: every band edge of the default policy,
// disagreeing dimensions under each combination rule, the credit rule.
#include "workflow/classify.h"

#include <string>

#include "gtest/gtest.h"
#include "workflow/policy.h"

namespace collections::workflow {
namespace {

constexpr int64_t CNY = 100;  // fen per yuan

struct Row {
  std::string name;
  int32_t dpd;
  int64_t fen;
  v1::CreditBand band;
  int32_t prior;
  v1::CaseClass want;
  v1::CaseClass want_days;
  v1::CaseClass want_amount;
  bool raised;
};

using v1::CASE_CLASS_MILD;
using v1::CASE_CLASS_MODERATE;
using v1::CASE_CLASS_SEVERE;
constexpr auto GOOD = v1::CREDIT_BAND_GOOD;

class ClassifyTable : public ::testing::TestWithParam<Row> {};

TEST_P(ClassifyTable, DefaultPolicy) {
  const Row& r = GetParam();
  LoanFacts facts;
  facts.days_past_due = r.dpd;
  facts.overdue_total_fen = r.fen;
  facts.credit.set_score_band(r.band);
  facts.credit.set_prior_delinquencies(r.prior);
  v1::Classification c = Classify(facts, DefaultPolicy());
  EXPECT_EQ(c.case_class(), r.want) << c.explanation();
  EXPECT_EQ(c.day_class(), r.want_days) << c.explanation();
  EXPECT_EQ(c.amount_class(), r.want_amount) << c.explanation();
  EXPECT_EQ(c.credit_raised(), r.raised) << c.explanation();
  EXPECT_EQ(c.days_past_due(), r.dpd);
  EXPECT_EQ(c.overdue_total_fen(), r.fen);
  EXPECT_EQ(c.rule(), v1::COMBINATION_RULE_MORE_SEVERE);
  EXPECT_FALSE(c.explanation().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Edges, ClassifyTable,
    ::testing::Values(
        // Day edges with a mild amount.
        Row{"day1", 1, 1000 * CNY, GOOD, 0, CASE_CLASS_MILD, CASE_CLASS_MILD, CASE_CLASS_MILD,
            false},
        Row{"day30", 30, 1000 * CNY, GOOD, 0, CASE_CLASS_MILD, CASE_CLASS_MILD, CASE_CLASS_MILD,
            false},
        Row{"day31", 31, 1000 * CNY, GOOD, 0, CASE_CLASS_MODERATE, CASE_CLASS_MODERATE,
            CASE_CLASS_MILD, false},
        Row{"day90", 90, 1000 * CNY, GOOD, 0, CASE_CLASS_MODERATE, CASE_CLASS_MODERATE,
            CASE_CLASS_MILD, false},
        Row{"day91", 91, 1000 * CNY, GOOD, 0, CASE_CLASS_SEVERE, CASE_CLASS_SEVERE, CASE_CLASS_MILD,
            false},
        // Amount edges with a mild day count.
        Row{"cny4999_99", 5, 499'999, GOOD, 0, CASE_CLASS_MILD, CASE_CLASS_MILD, CASE_CLASS_MILD,
            false},
        Row{"cny5000_00", 5, 500'000, GOOD, 0, CASE_CLASS_MODERATE, CASE_CLASS_MILD,
            CASE_CLASS_MODERATE, false},
        Row{"cny20000_00", 5, 2'000'000, GOOD, 0, CASE_CLASS_MODERATE, CASE_CLASS_MILD,
            CASE_CLASS_MODERATE, false},
        Row{"cny20000_01", 5, 2'000'001, GOOD, 0, CASE_CLASS_SEVERE, CASE_CLASS_MILD,
            CASE_CLASS_SEVERE, false},
        // Dimensions that disagree: the more severe wins either way round.
        Row{"fewDaysBigAmount", 3, 50'000 * CNY, GOOD, 0, CASE_CLASS_SEVERE, CASE_CLASS_MILD,
            CASE_CLASS_SEVERE, false},
        Row{"manyDaysSmallAmount", 120, 800 * CNY, GOOD, 0, CASE_CLASS_SEVERE, CASE_CLASS_SEVERE,
            CASE_CLASS_MILD, false},
        Row{"moderateDaysMildAmount", 45, 800 * CNY, GOOD, 0, CASE_CLASS_MODERATE,
            CASE_CLASS_MODERATE, CASE_CLASS_MILD, false},
        // Credit record: a poor band or 3+ prior delinquencies raise one level.
        Row{"poorBandRaisesMild", 10, 1000 * CNY, v1::CREDIT_BAND_POOR, 0, CASE_CLASS_MODERATE,
            CASE_CLASS_MILD, CASE_CLASS_MILD, true},
        Row{"veryPoorRaisesModerate", 45, 1000 * CNY, v1::CREDIT_BAND_VERY_POOR, 0,
            CASE_CLASS_SEVERE, CASE_CLASS_MODERATE, CASE_CLASS_MILD, true},
        Row{"poorCannotPassSevere", 100, 1000 * CNY, v1::CREDIT_BAND_POOR, 0, CASE_CLASS_SEVERE,
            CASE_CLASS_SEVERE, CASE_CLASS_MILD, false},
        Row{"threePriorRaise", 10, 1000 * CNY, GOOD, 3, CASE_CLASS_MODERATE, CASE_CLASS_MILD,
            CASE_CLASS_MILD, true},
        Row{"twoPriorDoNot", 10, 1000 * CNY, GOOD, 2, CASE_CLASS_MILD, CASE_CLASS_MILD,
            CASE_CLASS_MILD, false},
        Row{"fairBandDoesNot", 10, 1000 * CNY, v1::CREDIT_BAND_FAIR, 0, CASE_CLASS_MILD,
            CASE_CLASS_MILD, CASE_CLASS_MILD, false}),
    [](const auto& info) { return info.param.name; });

struct RuleRow {
  v1::CombinationRule rule;
  v1::CaseClass few_days_big_amount;
  v1::CaseClass many_days_small_amount;
};

TEST(Classify, CombinationRuleIsAPolicySetting) {
  for (const RuleRow& r : {
           RuleRow{v1::COMBINATION_RULE_MORE_SEVERE, CASE_CLASS_SEVERE, CASE_CLASS_SEVERE},
           RuleRow{v1::COMBINATION_RULE_LESS_SEVERE, CASE_CLASS_MILD, CASE_CLASS_MILD},
           RuleRow{v1::COMBINATION_RULE_DAYS_ONLY, CASE_CLASS_MILD, CASE_CLASS_SEVERE},
           RuleRow{v1::COMBINATION_RULE_AMOUNT_ONLY, CASE_CLASS_SEVERE, CASE_CLASS_MILD},
       }) {
    v1::Policy p = DefaultPolicy();
    p.set_combination_rule(r.rule);
    LoanFacts a{3, 50'000 * CNY, {}};
    LoanFacts b{120, 800 * CNY, {}};
    EXPECT_EQ(Classify(a, p).case_class(), r.few_days_big_amount)
        << v1::CombinationRule_Name(r.rule);
    EXPECT_EQ(Classify(b, p).case_class(), r.many_days_small_amount)
        << v1::CombinationRule_Name(r.rule);
  }
}

TEST(Classify, ExplanationNamesInputsAndRule) {
  LoanFacts f{45, 2'000'001, {}};
  f.credit.set_score_band(v1::CREDIT_BAND_POOR);
  const std::string why = Classify(f, DefaultPolicy()).explanation();
  EXPECT_NE(why.find("days past due 45 -> moderate"), std::string::npos) << why;
  EXPECT_NE(why.find("20,000.01 CNY -> severe"), std::string::npos) << why;
  EXPECT_NE(why.find("more severe"), std::string::npos) << why;
  EXPECT_NE(why.find("poor credit"), std::string::npos) << why;
}

}  // namespace
}  // namespace collections::workflow
