// The SLA report's open work kept as counts (migration 18): open tasks by
// queue, case filter (region, product, policy version), state group and
// deadline day, in report_open_tasks, with what changed since appended to
// report_open_task_changes by the database's triggers. Internal to storage/.
//
// Thread-safety: FoldOpenTaskChanges runs as a write command of `store`
// (any thread); OpenTaskCounts runs on the connection it is given.
#ifndef COLLECTIONS_STORAGE_REPORT_OPEN_TASKS_H_
#define COLLECTIONS_STORAGE_REPORT_OPEN_TASKS_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "soci/soci.h"
#include "storage/reports.h"
#include "storage/store.h"

namespace collections::storage {

// Adds the changes appended since the last fold to the counts and removes
// them, so that reading the counts costs the counts and one day's changes,
// not the open tasks. The day's run calls it (TakeReportSnapshot). On
// PostgreSQL the changes other writers commit meanwhile stay for the next
// fold.
absl::Status FoldOpenTaskChanges(Store& store);

// One queue's open work at `now_us`, as the SLA report shows it.
struct QueueOpenWork {
  long long open = 0;           // READY and LEASED
  long long past_deadline = 0;  // of those, with a deadline before now
  long long incidents = 0;
};

// The open work by queue under `f`'s filters (its period plays no part):
// the counts, and the open tasks whose deadline falls on now's day before
// now from the tasks themselves (tasks_open, one key range per queue).
// Queues with no open task and no incident are left out. Throws
// soci_error.
std::map<std::string, QueueOpenWork> OpenTaskCounts(soci::session& sql, Backend backend,
                                                    const ReportQuery& f, long long now_us);

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_REPORT_OPEN_TASKS_H_
