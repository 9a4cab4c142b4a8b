// PendingRows: the case_events rows and new tasks rows of a command's
// transitions, gathered in memory and then written together: one row with
// the writer's prepared statement, several with one multi-row INSERT per
// table. On PostgreSQL every statement is a round trip, and a day's aging
// batch of 128 cases writes 128 events and up to 256 tasks; an import
// opening cases writes thousands.
//
// Thread-safety: none; one writer thread uses it within one command.
#ifndef COLLECTIONS_STORAGE_PENDING_ROWS_H_
#define COLLECTIONS_STORAGE_PENDING_ROWS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "soci/soci.h"
#include "storage/multi_row_insert.h"

namespace collections::storage {

// One row of case_events, in the shape SOCI binds.
struct EventRow {
  long long case_id = 0, seq = 0;
  std::string type, actor;
  long long occurred_at_us = 0, business_day = 0, policy_version = 0;
  std::string body;
};
inline constexpr char kEventColumns[] =
    "case_id, seq, event_type, actor, occurred_at_us, business_day, policy_version, body";

// The bound columns of a new (READY) task, in kNewTaskColumns' order.
struct NewTaskRow {
  long long task_id = 0, case_id = 0;
  int task_type = 0;
  std::string queue;
  long long priority = 0, not_before_us = 0, deadline_us = 0, cost_fen = 0;
  std::string payload;
  long long created_at_us = 0;
};
// Bound: task_id, case_id, task_type, queue, priority, not_before_us,
// deadline_us, cost_fen, payload, created_at_us; the rest are a new task's
// constants, spelled in the writer's prepared insert_task (named values)
// and in PendingRows::Write (anonymous '?' values): change both together.
inline constexpr char kNewTaskColumns[] =
    "task_id, case_id, task_type, queue, state, priority, not_before_us, deadline_us, attempts, "
    "lease_owner, lease_token, lease_expires_us, cost_fen, payload, outcome, hold_reason, "
    "created_at_us, completed_at_us";

class PendingRows {
 public:
  // `insert_event` and `insert_task` are the writer's prepared one-row
  // statements, bound to *event and *task; `cancel_tasks` cancels the open
  // tasks of case *cancel_case_id as of *cancel_at_us.
  PendingRows(soci::statement& insert_event, EventRow* event, soci::statement& insert_task,
              NewTaskRow* task, soci::statement& cancel_tasks, long long* cancel_case_id,
              long long* cancel_at_us)
      : insert_event_(insert_event),
        event_(event),
        insert_task_(insert_task),
        task_(task),
        cancel_tasks_(cancel_tasks),
        cancel_case_id_(cancel_case_id),
        cancel_at_us_(cancel_at_us) {}

  void AddEvent(EventRow row) { events_.push_back(std::move(row)); }
  void AddTask(NewTaskRow row) { tasks_.push_back(std::move(row)); }
  // The case's open tasks are to be cancelled as of `at_us`: before the
  // new tasks (Write writes them after), so add it before the new tasks of
  // the same transition, and only when HasTasksOf(case_id) is false (the
  // case's earlier new tasks written first). A case already waiting to be
  // cancelled keeps its first time: the second would find nothing open.
  // PostgreSQL only (several go as one statement of arrays).
  void AddCancel(int64_t case_id, int64_t at_us);
  bool empty() const { return events_.empty() && tasks_.empty() && cancels_.empty(); }
  // Whether a task of the case is among them (a statement on the case's
  // tasks must not run before they are written).
  bool HasTasksOf(int64_t case_id) const;

  // Writes them all and forgets them, events, cancellations, then new
  // tasks: one row with its prepared statement, several with a
  // MultiRowInsert (cancellations: one UPDATE of arrays). Throws
  // soci_error.
  void Write(InsertSession& to);

 private:
  soci::statement& insert_event_;
  EventRow* event_;
  soci::statement& insert_task_;
  NewTaskRow* task_;
  soci::statement& cancel_tasks_;
  long long* cancel_case_id_;
  long long* cancel_at_us_;
  struct Cancel {
    int64_t case_id = 0, at_us = 0;
  };
  std::vector<EventRow> events_;
  std::vector<Cancel> cancels_;
  std::vector<NewTaskRow> tasks_;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_PENDING_ROWS_H_
