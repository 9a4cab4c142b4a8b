#include <limits>

#include "gtest/gtest.h"
#include "workflow/dates.h"
#include "workflow/money.h"

namespace collections::workflow {
namespace {

v1::Date D(int y, int m, int d) {
  v1::Date out;
  out.set_year(y);
  out.set_month(m);
  out.set_day(d);
  return out;
}

TEST(Dates, RejectsDaysThatDoNotExist) {
  EXPECT_TRUE(DayFromProto(D(2024, 2, 29), "d").ok());  // leap year
  for (const v1::Date& bad : {D(2026, 2, 29), D(2026, 2, 30), D(2026, 4, 31), D(2026, 13, 1),
                              D(2026, 0, 10), D(1800, 1, 1), D(0, 0, 0)}) {
    auto day = DayFromProto(bad, "as_of");
    ASSERT_FALSE(day.ok()) << bad.ShortDebugString();
    EXPECT_EQ(day.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(day.status().message().find("as_of"), absl::string_view::npos);
  }
}

TEST(Dates, DaysPastDueCountsFromTheDayAfterTheDueDate) {
  absl::CivilDay due(2026, 10, 31);
  EXPECT_EQ(DaysPastDue(due, due), 0);
  EXPECT_EQ(DaysPastDue(due, absl::CivilDay(2026, 11, 1)), 1);
  EXPECT_EQ(DaysPastDue(due, absl::CivilDay(2026, 11, 30)), 30);
  EXPECT_EQ(DaysPastDue(due, absl::CivilDay(2026, 10, 1)), 0);
  EXPECT_EQ(DaysPastDue(absl::CivilDay(2024, 2, 28), absl::CivilDay(2024, 3, 1)), 2);
}

TEST(Dates, DayNumbersRoundTrip) {
  absl::CivilDay d(2026, 11, 29);
  EXPECT_EQ(DayFromNumber(DayNumber(d)), d);
  EXPECT_EQ(DayNumber(absl::CivilDay(1970, 1, 2)), 1);
  EXPECT_EQ(FormatDay(d), "2026-11-29");
}

TEST(Money, ValidatesSignAndRange) {
  EXPECT_TRUE(ValidateFen(0, "x").ok());
  EXPECT_TRUE(ValidateFen(kMaxFen, "x").ok());
  EXPECT_EQ(ValidateFen(-1, "payment.amount_fen").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ValidateFen(-1, "payment.amount_fen").message().find("payment.amount_fen"),
            absl::string_view::npos);
  EXPECT_EQ(ValidateFen(std::numeric_limits<int64_t>::max(), "x").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Money, Formats) {
  EXPECT_EQ(FormatFen(2'000'001), "20,000.01 CNY");
  EXPECT_EQ(FormatFen(499'999), "4,999.99 CNY");
  EXPECT_EQ(FormatFen(5), "0.05 CNY");
  EXPECT_EQ(FormatFen(-123'456'789), "-1,234,567.89 CNY");
  EXPECT_EQ(FormatFen(300'000'000'000), "3,000,000,000.00 CNY");
}

}  // namespace
}  // namespace collections::workflow
