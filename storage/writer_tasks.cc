// WriterConnection::Transaction's task operations (writer_transaction.h):
// loading, claiming (with the claim's holds), the lease-token checks and
// what a lease holder may do (complete, return, extend, release), lease
// expiry, deferrals and holds, and the contact records the call caps count.
#include <openssl/rand.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/codec.h"
#include "storage/writer_transaction.h"

namespace collections::storage {
namespace {

std::string LeaseError(int64_t task_id, absl::string_view what) {
  return absl::StrCat("task ", task_id, ": ", what);
}

// A lease's secret: 128 bits from OpenSSL's CSPRNG, base64url without
// padding. The lease token is a counter anyone can guess; this is not.
absl::StatusOr<std::string> NewLeaseKey() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return absl::UnavailableError("no random bytes for a lease key; retry the claim");
  }
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

}  // namespace

absl::StatusOr<std::optional<v1::Task>> WriterConnection::Transaction::LoadTask(int64_t task_id) {
  return Guard("load task", [&]() -> absl::StatusOr<std::optional<v1::Task>> {
    s_.key_id = task_id;
    if (!FetchOne(s_.load_task)) return std::nullopt;
    v1::Task task;
    RETURN_IF_ERROR(TaskFromRow(s_.t_out, &task));
    return task;
  });
}

absl::StatusOr<std::vector<v1::Task>> WriterConnection::Transaction::ClaimTasks(
    const ClaimSpec& spec) {
  if (spec.queues.empty() || spec.worker.empty() || spec.max_tasks < 1 ||
      spec.lease <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "a claim needs queues, a worker, max_tasks >= 1 and a positive "
        "lease");
  }
  return Guard("claim tasks", [&]() -> absl::StatusOr<std::vector<v1::Task>> {
    struct Candidate {
      TaskRow row;
      v1::Task task;
    };
    std::vector<Candidate> candidates;
    for (const std::string& queue : spec.queues) {
      s_.t_queue = queue;
      s_.t_now_us = MicrosOf(spec.now);
      s_.t_limit = spec.scan_limit > 0 ? spec.scan_limit : 4 * spec.max_tasks + 16;
      std::vector<TaskRow> rows;
      s_.claim_candidates.execute();
      while (s_.claim_candidates.fetch()) rows.push_back(s_.t_out);
      for (TaskRow& row : rows) {
        if (!spec.types.empty() &&
            std::find(spec.types.begin(), spec.types.end(), row.task_type) == spec.types.end()) {
          continue;
        }
        Candidate c{std::move(row), {}};
        RETURN_IF_ERROR(TaskFromRow(c.row, &c.task));
        std::string hold = spec.hold ? spec.hold(c.task) : std::string();
        if (!hold.empty()) {
          if (hold != c.row.hold_reason) {  // write only what changed
            s_.t_text = hold;
            s_.key_id = c.row.task_id;
            s_.set_hold.execute(true);
          }
          continue;
        }
        candidates.push_back(std::move(c));
      }
    }
    // Each queue's candidates came in claim order; merge them.
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
      if (a.row.priority != b.row.priority) {
        return a.row.priority > b.row.priority;
      }
      if (a.row.not_before_us != b.row.not_before_us) {
        return a.row.not_before_us < b.row.not_before_us;
      }
      return a.row.task_id < b.row.task_id;
    });
    if (static_cast<int>(candidates.size()) > spec.max_tasks) {
      candidates.resize(spec.max_tasks);
    }
    std::vector<v1::Task> leased;
    leased.reserve(candidates.size());
    const int64_t expires_us = MicrosOf(spec.now + spec.lease);
    for (Candidate& c : candidates) {
      // The token only ever grows, so a worker holding an older lease of
      // the same task is fenced off.
      s_.key_id = c.row.task_id;
      s_.t_owner = spec.worker;
      s_.t_new_token = c.row.lease_token + 1;
      ASSIGN_OR_RETURN(s_.t_lease_key, NewLeaseKey());
      s_.t_expires_us = expires_us;
      s_.lease_task.execute(true);
      if (s_.lease_task.get_affected_rows() != 1) continue;
      v1::Task& task = c.task;
      task.set_state(v1::TASK_STATE_LEASED);
      task.set_lease_owner(spec.worker);
      task.set_lease_token(s_.t_new_token);
      task.set_lease_key(s_.t_lease_key);
      ToTimestamp(expires_us, task.mutable_lease_expires_at());
      task.set_attempts(task.attempts() + 1);
      task.clear_hold_reason();
      leased.push_back(std::move(task));
    }
    return leased;
  });
}

absl::StatusOr<v1::Task> WriterConnection::Transaction::CheckLease(int64_t task_id,
                                                                   int64_t lease_token,
                                                                   absl::Time now,
                                                                   std::string* lease_key) {
  return Guard("check lease", [&]() -> absl::StatusOr<v1::Task> {
    ASSIGN_OR_RETURN(v1::Task task, Leased(task_id, lease_token, now));
    if (lease_key != nullptr) *lease_key = s_.t_out.lease_key;  // the row Leased read
    checked_task_ = task_id;
    return task;
  });
}

absl::StatusOr<v1::Task> WriterConnection::Transaction::CompleteTask(int64_t task_id,
                                                                     int64_t lease_token,
                                                                     const v1::TaskOutcome& outcome,
                                                                     absl::Time now) {
  return Guard("complete task", [&]() -> absl::StatusOr<v1::Task> {
    ASSIGN_OR_RETURN(v1::Task task, Leased(task_id, lease_token, now, /*reuse_checked=*/true));
    s_.t_text = EncodeMessage(outcome);
    s_.t_now_us = MicrosOf(now);
    s_.key_id = task_id;
    s_.t_token = lease_token;
    s_.complete_task.execute(true);
    RETURN_IF_ERROR(OneRow(s_.complete_task, task_id));
    return task;
  });
}

absl::StatusOr<v1::Task> WriterConnection::Transaction::ReturnTask(
    int64_t task_id, int64_t lease_token, absl::Time not_before, bool incident,
    const std::string& reason, absl::Time now) {
  return Guard("return task", [&]() -> absl::StatusOr<v1::Task> {
    ASSIGN_OR_RETURN(v1::Task task, Leased(task_id, lease_token, now, /*reuse_checked=*/true));
    s_.t_state = incident ? v1::TASK_STATE_INCIDENT : v1::TASK_STATE_READY;
    s_.t_not_before_us = MicrosOf(not_before);
    s_.t_text = reason;
    s_.key_id = task_id;
    s_.t_token = lease_token;
    s_.return_task.execute(true);
    RETURN_IF_ERROR(OneRow(s_.return_task, task_id));
    if (!incident) ready_.push_back({task.queue(), task.type(), not_before});
    return task;
  });
}

absl::StatusOr<v1::Task> WriterConnection::Transaction::ExtendLease(int64_t task_id,
                                                                    int64_t lease_token,
                                                                    absl::Time new_expiry,
                                                                    absl::Time now) {
  if (new_expiry <= now) {
    return absl::InvalidArgumentError("a lease must be extended into the future");
  }
  return Guard("extend lease", [&]() -> absl::StatusOr<v1::Task> {
    ASSIGN_OR_RETURN(v1::Task task, Leased(task_id, lease_token, now, /*reuse_checked=*/true));
    s_.t_expires_us = MicrosOf(new_expiry);
    s_.key_id = task_id;
    s_.t_token = lease_token;
    s_.extend_lease.execute(true);
    RETURN_IF_ERROR(OneRow(s_.extend_lease, task_id));
    task.clear_lease_expires_at();
    ToTimestamp(s_.t_expires_us, task.mutable_lease_expires_at());
    return task;
  });
}

absl::StatusOr<std::vector<int64_t>> WriterConnection::Transaction::ExpireLeases(absl::Time now,
                                                                                 int limit) {
  return Guard("expire leases", [&]() -> absl::StatusOr<std::vector<int64_t>> {
    std::vector<int64_t> ids;
    s_.t_now_us = MicrosOf(now);
    s_.t_limit = std::max(limit, 1);
    std::vector<ReadyTask> found;
    s_.expired_leases.execute();
    while (s_.expired_leases.fetch()) {
      ids.push_back(s_.out_id);
      found.push_back({s_.out_text, static_cast<v1::TaskType>(s_.out_type), now});
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      s_.key_id = ids[i];
      s_.expire_lease.execute(true);
      if (s_.expire_lease.get_affected_rows() == 1) {
        ready_.push_back(std::move(found[i]));
      }
    }
    return ids;
  });
}

absl::StatusOr<v1::Task> WriterConnection::Transaction::ReleaseTask(int64_t task_id,
                                                                    int64_t lease_token,
                                                                    absl::Time now) {
  return Guard("release task", [&]() -> absl::StatusOr<v1::Task> {
    ASSIGN_OR_RETURN(v1::Task task, Leased(task_id, lease_token, now, /*reuse_checked=*/true));
    s_.key_id = task_id;
    s_.t_token = lease_token;
    s_.release_task.execute(true);
    RETURN_IF_ERROR(OneRow(s_.release_task, task_id));
    ready_.push_back({task.queue(), task.type(), absl::FromUnixMicros(s_.t_out.not_before_us)});
    return task;
  });
}

absl::Status WriterConnection::Transaction::DeferTask(int64_t task_id, absl::Time not_before) {
  return Guard("defer task", [&]() -> absl::Status {
    s_.key_id = task_id;
    s_.t_not_before_us = MicrosOf(not_before);
    s_.defer_task.execute(true);
    if (s_.defer_task.get_affected_rows() != 1) {
      return absl::FailedPreconditionError(absl::StrCat("task ", task_id, " is not ready"));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<absl::Time>> WriterConnection::Transaction::NextReadyTime(
    const std::vector<std::string>& queues, absl::Time now) {
  return Guard("next ready time", [&]() -> absl::StatusOr<std::optional<absl::Time>> {
    std::optional<absl::Time> next;
    s_.t_now_us = MicrosOf(now);
    for (const std::string& queue : queues) {
      s_.t_queue = queue;
      s_.out_id = 0;
      FetchOne(s_.next_ready);
      if (s_.out_id == 0) continue;
      const absl::Time t = absl::FromUnixMicros(s_.out_id);
      if (!next || t < *next) next = t;
    }
    return next;
  });
}

absl::StatusOr<std::vector<v1::Task>> WriterConnection::Transaction::HeldTasks(int64_t case_id) {
  return Guard("held tasks", [&]() -> absl::StatusOr<std::vector<v1::Task>> {
    std::vector<TaskRow> rows;
    s_.key_id = case_id;
    s_.held_tasks.execute();
    while (s_.held_tasks.fetch()) rows.push_back(s_.t_out);
    std::vector<v1::Task> tasks(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      RETURN_IF_ERROR(TaskFromRow(rows[i], &tasks[i]));
    }
    return tasks;
  });
}

absl::Status WriterConnection::Transaction::RecheckHold(const v1::Task& task,
                                                        const std::string& hold_reason,
                                                        absl::Time not_before) {
  return Guard("recheck hold", [&]() -> absl::Status {
    s_.key_id = task.task_id();
    s_.t_text = hold_reason;
    s_.t_not_before_us = MicrosOf(not_before);
    s_.recheck_hold.execute(true);
    if (s_.recheck_hold.get_affected_rows() != 1) {
      return absl::FailedPreconditionError(absl::StrCat("task ", task.task_id(), " is not ready"));
    }
    if (hold_reason.empty()) {
      ready_.push_back({task.queue(), task.type(), not_before});
    }
    return absl::OkStatus();
  });
}

absl::Status WriterConnection::Transaction::RecordContact(const ContactRecord& c) {
  return Guard("record contact", [&]() -> absl::Status {
    s_.ct_task_id = c.task_id;
    s_.ct_token = c.lease_token;
    s_.ct_case_id = c.case_id;
    s_.ct_borrower = c.borrower_id;
    s_.ct_type = c.task_type;
    s_.ct_at_us = MicrosOf(c.at);
    s_.insert_contact.execute(true);
    return absl::OkStatus();
  });
}

absl::Status WriterConnection::Transaction::EndContact(int64_t task_id, int64_t lease_token,
                                                       bool connected) {
  return Guard("end contact", [&]() -> absl::Status {
    s_.ct_task_id = task_id;
    s_.ct_token = lease_token;
    s_.ct_connected_flag = connected ? 1 : 0;
    s_.end_contact.execute(true);
    return absl::OkStatus();
  });
}

absl::Status WriterConnection::Transaction::DeleteContact(int64_t task_id, int64_t lease_token) {
  return Guard("delete contact", [&]() -> absl::Status {
    s_.ct_task_id = task_id;
    s_.ct_token = lease_token;
    s_.delete_contact.execute(true);
    return absl::OkStatus();
  });
}

absl::StatusOr<CallCounts> WriterConnection::Transaction::CountCalls(const std::string& borrower_id,
                                                                     absl::Time day_start,
                                                                     absl::Time week_start,
                                                                     absl::Time now) {
  return Guard("count calls", [&]() -> absl::StatusOr<CallCounts> {
    s_.ct_borrower = borrower_id;
    s_.ct_at_us = MicrosOf(now);
    s_.lock_borrower.execute(true);
    s_.ct_day_us = MicrosOf(day_start);
    s_.ct_week_us = MicrosOf(week_start);
    s_.ct_today = s_.ct_connected = s_.ct_week = s_.ct_unreported = 0;
    FetchOne(s_.count_calls);
    CallCounts counts;
    counts.attempts_today = static_cast<int>(s_.ct_today);
    counts.connected_today = static_cast<int>(s_.ct_connected);
    counts.attempts_in_7_days = static_cast<int>(s_.ct_week);
    counts.unreported_today = static_cast<int>(s_.ct_unreported);
    return counts;
  });
}

absl::StatusOr<v1::Task> WriterConnection::Transaction::Leased(int64_t task_id, int64_t lease_token,
                                                               absl::Time now, bool reuse_checked) {
  s_.key_id = task_id;
  if (!(reuse_checked && just_checked_ == task_id) && !FetchOne(s_.load_task)) {
    return absl::NotFoundError(absl::StrCat("task ", task_id, " not found"));
  }
  const TaskRow& row = s_.t_out;
  // Tokens only grow, one per claim: a larger one was never handed out, a
  // smaller one belongs to a lease the task has had since.
  if (lease_token <= 0 || lease_token > row.lease_token) {
    return absl::FailedPreconditionError(LeaseError(
        task_id, absl::StrCat("lease token ", lease_token,
                              " was never issued (the task's latest is ", row.lease_token, ")")));
  }
  if (lease_token < row.lease_token) {
    return absl::FailedPreconditionError(LeaseError(
        task_id, absl::StrCat("stale lease token ", lease_token,
                              ": the task was leased again since (lease token ", row.lease_token,
                              ", now ", v1::TaskState_Name(row.state), ")")));
  }
  switch (row.state) {
    case v1::TASK_STATE_LEASED:
      if (row.lease_expires_us <= MicrosOf(now)) {
        return absl::FailedPreconditionError(LeaseError(
            task_id, absl::StrCat("lease token ", lease_token, " expired at ",
                                  absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                                   absl::FromUnixMicros(row.lease_expires_us),
                                                   absl::UTCTimeZone()),
                                  " (the task goes back to its queue)")));
      }
      break;
    case v1::TASK_STATE_READY:
      return absl::FailedPreconditionError(
          LeaseError(task_id, absl::StrCat("lease token ", lease_token,
                                           " is no longer held: it expired, or was "
                                           "released or failed, and the task is back "
                                           "in its queue (TASK_STATE_READY, not "
                                           "leased)")));
    case v1::TASK_STATE_COMPLETED:
      return absl::FailedPreconditionError(
          LeaseError(task_id, absl::StrCat("already completed under lease token ", lease_token,
                                           " (not leased any more)")));
    case v1::TASK_STATE_INCIDENT:
      return absl::FailedPreconditionError(
          LeaseError(task_id, absl::StrCat("lease token ", lease_token,
                                           " ended in a failure that made the task an "
                                           "incident for supervisors (not leased)")));
    default:
      return absl::FailedPreconditionError(LeaseError(
          task_id, absl::StrCat("not leased (state ", v1::TaskState_Name(row.state), ")")));
  }
  v1::Task task;
  RETURN_IF_ERROR(TaskFromRow(row, &task));
  return task;
}

absl::Status WriterConnection::Transaction::OneRow(soci::statement& st, int64_t task_id) {
  if (st.get_affected_rows() == 1) return absl::OkStatus();
  return absl::AbortedError(absl::StrCat("task ", task_id, " changed concurrently"));
}

}  // namespace collections::storage
