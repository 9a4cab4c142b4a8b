#include "workflow/dates.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"

namespace collections::workflow {

absl::StatusOr<absl::CivilDay> DayFromProto(const v1::Date& date, absl::string_view field) {
  if (IsUnset(date)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  }
  if (date.year() < 1900 || date.year() > 9999 || date.month() < 1 || date.month() > 12 ||
      date.day() < 1 || date.day() > 31) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %04d-%02d-%02d is not a date", field,
                                                      date.year(), date.month(), date.day()));
  }
  // CivilDay normalizes 2026-02-30 to 2026-03-02; a date that does not
  // round-trip does not exist.
  absl::CivilDay day(date.year(), date.month(), date.day());
  if (day.month() != date.month() || day.day() != date.day()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: %04d-%02d-%02d does not exist", field,
                                                      date.year(), date.month(), date.day()));
  }
  return day;
}

v1::Date DayToProto(absl::CivilDay day) {
  v1::Date d;
  d.set_year(static_cast<int32_t>(day.year()));
  d.set_month(day.month());
  d.set_day(day.day());
  return d;
}

bool IsUnset(const v1::Date& date) {
  return date.year() == 0 && date.month() == 0 && date.day() == 0;
}

int64_t DayNumber(absl::CivilDay day) { return day - absl::CivilDay(1970, 1, 1); }

absl::CivilDay DayFromNumber(int64_t n) { return absl::CivilDay(1970, 1, 1) + n; }

std::string FormatDay(absl::CivilDay day) {
  return absl::StrFormat("%04d-%02d-%02d", day.year(), day.month(), day.day());
}

int32_t DaysPastDue(absl::CivilDay oldest_unpaid_due, absl::CivilDay today) {
  const int64_t d = today - oldest_unpaid_due;
  return d > 0 ? static_cast<int32_t>(d) : 0;
}

google::protobuf::Timestamp TimeToProto(absl::Time t) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

absl::Time TimeFromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::StatusOr<absl::Duration> DurationFromProto(const google::protobuf::Duration& d,
                                                 absl::string_view field) {
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999'999'999 ||
      d.seconds() > 315'576'000'000) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be a non-negative duration"));
  }
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Time TimeOnBusinessDay(absl::CivilDay day, absl::Time anchor, absl::CivilDay anchor_day,
                             absl::TimeZone zone) {
  const absl::CivilSecond local = absl::ToCivilSecond(anchor, zone);
  return absl::FromCivil(local + (day - anchor_day) * 86400, zone);
}

}  // namespace collections::workflow
