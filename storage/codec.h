// Conversions between protos and database column values, shared by the
// writer and the readers. Messages are stored as base64 of their binary
// encoding in TEXT columns: portable across SQLite and PostgreSQL and safe
// through SOCI's string binding (which is not binary-safe on every backend).
// Pure; thread-safe.
#ifndef COLLECTIONS_STORAGE_CODEC_H_
#define COLLECTIONS_STORAGE_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collections/v1/case.pb.h"
#include "collections/v1/task.pb.h"
#include "google/protobuf/message_lite.h"
#include "google/protobuf/timestamp.pb.h"

namespace collections::storage {

std::string EncodeMessage(const google::protobuf::MessageLite& message);
// INTERNAL naming `what` when the column does not hold such a message.
absl::Status DecodeMessage(const std::string& column, google::protobuf::MessageLite* message,
                           const char* what);

// Instants are BIGINT microseconds since the Unix epoch; 0 means unset.
int64_t MicrosOf(const google::protobuf::Timestamp& ts);
int64_t MicrosOf(absl::Time t);  // saturates at the int64 range
// Sets *ts; false (leaving it alone) for 0 and for values outside
// Timestamp's range (such as the saturated absl::InfiniteFuture()).
bool ToTimestamp(int64_t micros, google::protobuf::Timestamp* ts);

// Business dates are BIGINT days since 1970-01-01 (workflow::DayNumber);
// an unset Date is stored as 0.
int64_t DayColumn(const v1::Date& date);

// One row of the tasks table, in the shape SOCI binds (long long for every
// BIGINT, int for small enums).
struct TaskRow {
  long long task_id = 0;
  long long case_id = 0;
  int task_type = 0;
  std::string queue;
  int state = 0;
  long long priority = 0;
  long long not_before_us = 0;
  long long deadline_us = 0;
  int attempts = 0;
  std::string lease_owner;
  long long lease_token = 0;
  long long lease_expires_us = 0;
  std::string payload;
  std::string hold_reason;
  // The secret of the latest lease ('' before schema version 9). Never put
  // in a v1::Task by TaskFromRow: only a claim hands it out.
  std::string lease_key;
};

// The columns TaskRow reads, in its order.
inline constexpr char kTaskColumns[] =
    "task_id, case_id, task_type, queue, state, priority, not_before_us, "
    "deadline_us, attempts, lease_owner, lease_token, lease_expires_us, "
    "payload, hold_reason, lease_key";

absl::Status TaskFromRow(const TaskRow& row, v1::Task* task);

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_CODEC_H_
