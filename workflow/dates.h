// Business dates: conversions between the wire `Date` and absl::CivilDay,
// and the day arithmetic the workflow needs; and the one conversion between
// the wire `google.protobuf.Timestamp` / `Duration` and absl::Time /
// absl::Duration. Pure; thread-safe.
#ifndef COLLECTIONS_WORKFLOW_DATES_H_
#define COLLECTIONS_WORKFLOW_DATES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collections/v1/common.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace collections::workflow {

// INVALID_ARGUMENT naming `field` when the date does not exist
// (2026-02-30, month 13, year outside 1900..9999) or is unset.
absl::StatusOr<absl::CivilDay> DayFromProto(const v1::Date& date, absl::string_view field);
v1::Date DayToProto(absl::CivilDay day);
// True when the message is all zeros (not set).
bool IsUnset(const v1::Date& date);

// Points in time on the wire. TimeToProto keeps microseconds (as the
// database does) and rounds toward the past; TimeFromProto is exact.
google::protobuf::Timestamp TimeToProto(absl::Time t);
absl::Time TimeFromProto(const google::protobuf::Timestamp& ts);
// google.protobuf.Duration -> absl::Duration; INVALID_ARGUMENT naming
// `field` when negative or malformed.
absl::StatusOr<absl::Duration> DurationFromProto(const google::protobuf::Duration& d,
                                                 absl::string_view field);

// Days since 1970-01-01, the form dates take in database columns.
int64_t DayNumber(absl::CivilDay day);
absl::CivilDay DayFromNumber(int64_t n);

// "2026-11-29".
std::string FormatDay(absl::CivilDay day);

// Days past due on `today` for a loan whose oldest unpaid instalment fell
// due on `oldest_unpaid_due`: 0 on the due date itself, 1 the day after.
int32_t DaysPastDue(absl::CivilDay oldest_unpaid_due, absl::CivilDay today);

// The moment that stands for business date `day` when `anchor` stands for
// the business date `anchor_day`: the same local time of day in `zone`,
// whole days earlier or later. Work decided for a day (the tasks aging
// creates, their not-before and deadline) is stamped on that day's
// calendar, not on the wall clock of whenever the day happens to be run
// (a back-filled day, a simulated one).
absl::Time TimeOnBusinessDay(absl::CivilDay day, absl::Time anchor, absl::CivilDay anchor_day,
                             absl::TimeZone zone);

}  // namespace collections::workflow

#endif  // COLLECTIONS_WORKFLOW_DATES_H_
