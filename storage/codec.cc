#include "storage/codec.h"

#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "workflow/dates.h"

namespace collections::storage {

std::string EncodeMessage(const google::protobuf::MessageLite& message) {
  std::string bytes;
  message.SerializeToString(&bytes);
  return absl::Base64Escape(bytes);
}

absl::Status DecodeMessage(const std::string& column, google::protobuf::MessageLite* message,
                           const char* what) {
  std::string bytes;
  if (!absl::Base64Unescape(column, &bytes) || !message->ParseFromString(bytes)) {
    return absl::InternalError(
        absl::StrCat("stored ", what, " is corrupt (", column.size(), " characters of base64)"));
  }
  return absl::OkStatus();
}

int64_t MicrosOf(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000 + ts.nanos() / 1000;
}

int64_t MicrosOf(absl::Time t) {
  // absl::ToUnixMicros saturates infinite times to the int64 range.
  return absl::ToUnixMicros(t);
}

bool ToTimestamp(int64_t micros, google::protobuf::Timestamp* ts) {
  // Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
  constexpr int64_t kMinSeconds = -62'135'596'800;
  constexpr int64_t kMaxSeconds = 253'402'300'799;
  if (micros == 0) return false;
  int64_t seconds = micros / 1'000'000;
  int64_t rest = micros % 1'000'000;
  if (rest < 0) {
    seconds -= 1;
    rest += 1'000'000;
  }
  if (seconds < kMinSeconds || seconds > kMaxSeconds) return false;
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(rest * 1000));
  return true;
}

int64_t DayColumn(const v1::Date& date) {
  if (workflow::IsUnset(date)) return 0;
  return workflow::DayNumber(absl::CivilDay(date.year(), date.month(), date.day()));
}

absl::Status TaskFromRow(const TaskRow& row, v1::Task* task) {
  task->Clear();
  task->set_task_id(row.task_id);
  task->set_case_id(row.case_id);
  task->set_type(static_cast<v1::TaskType>(row.task_type));
  task->set_queue(row.queue);
  task->set_state(static_cast<v1::TaskState>(row.state));
  task->set_priority(row.priority);
  google::protobuf::Timestamp ts;
  if (ToTimestamp(row.not_before_us, &ts)) *task->mutable_not_before() = ts;
  if (ToTimestamp(row.deadline_us, &ts)) *task->mutable_deadline() = ts;
  task->set_attempts(row.attempts);
  task->set_lease_owner(row.lease_owner);
  task->set_lease_token(row.lease_token);
  if (ToTimestamp(row.lease_expires_us, &ts)) {
    *task->mutable_lease_expires_at() = ts;
  }
  task->set_hold_reason(row.hold_reason);
  return DecodeMessage(row.payload, task->mutable_payload(), "task payload");
}

}  // namespace collections::storage
