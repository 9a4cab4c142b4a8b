// The storage suite: cases, events, payments, timers, batches and reads.
// See store_fixture.h for the backends and the fixture.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/util/message_differencer.h"
#include "soci/soci.h"
#include "storage/case_batches.h"
#include "storage/multi_row_insert.h"
#include "storage/sql.h"
#include "storage/store_internal.h"
#include "tests/storage/store_fixture.h"
#include "workflow/dates.h"

namespace collections::storage {
namespace {

using google::protobuf::util::MessageDifferencer;

TEST_P(StoreTest, OpeningTransitionReadsBack) {
  workflow::Transition t;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) -> absl::Status {
                    absl::StatusOr<int64_t> id = uow.AllocateIds("case", 1);
                    if (!id.ok()) return id.status();
                    EXPECT_EQ(*id, 1);  // a new sequence starts at 1
                    t = Opening(*id, "L-1");
                    return uow.Apply(t, 0);
                  })
                  .ok());

  absl::StatusOr<v1::Case> c = store_->GetCase(1);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*c, t.next)) << c->DebugString();
  absl::StatusOr<v1::Case> by_loan = store_->GetCaseByLoan("L-1");
  ASSERT_TRUE(by_loan.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*by_loan, t.next));
  EXPECT_EQ(store_->GetCase(2).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetCaseByLoan("L-2").status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<std::vector<v1::CaseEvent>> events = Events(1);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals((*events)[0], t.event));
  EXPECT_TRUE(Events(2)->empty());

  absl::StatusOr<std::vector<v1::Task>> tasks = store_->ListTasks(1);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const v1::Task& task = (*tasks)[i];
    const workflow::TaskSpec& spec = t.create_tasks[i];
    EXPECT_EQ(task.task_id(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(task.case_id(), 1);
    EXPECT_EQ(task.type(), spec.type);
    EXPECT_EQ(task.queue(), spec.queue);
    EXPECT_EQ(task.state(), v1::TASK_STATE_READY);
    EXPECT_EQ(task.priority(), spec.priority);
    EXPECT_EQ(task.not_before().seconds(), absl::ToUnixSeconds(spec.not_before));
    EXPECT_EQ(task.deadline().seconds(), absl::ToUnixSeconds(spec.deadline));
    EXPECT_EQ(task.attempts(), 0);
    EXPECT_EQ(task.lease_token(), 0);
    EXPECT_FALSE(task.has_lease_expires_at());
    EXPECT_TRUE(MessageDifferencer::Equals(task.payload(), spec.payload));
  }
  absl::StatusOr<v1::Task> one = store_->GetTask(2);
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*one, (*tasks)[1]));
  EXPECT_EQ(store_->GetTask(3).status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<std::vector<workflow::TimerSpec>> timers = store_->ListTimers(1);
  ASSERT_TRUE(timers.ok());
  ASSERT_EQ(timers->size(), 1u);
  EXPECT_EQ((*timers)[0].timer, t.set_timers[0].timer);
  EXPECT_EQ((*timers)[0].due, t.set_timers[0].due);

  // The columns beside the body.
  auto sql = Raw();
  std::string type, actor, queue;
  long long day = 0, total = 0;
  int stage = 0;
  *sql << "SELECT event_type, actor, business_day FROM case_events "
          "WHERE case_id = 1 AND seq = 1",
      soci::into(type), soci::into(actor), soci::into(day);
  EXPECT_EQ(type, "imported");
  EXPECT_EQ(actor, "ingest:test");
  EXPECT_EQ(day, workflow::DayNumber(absl::CivilDay(2026, 11, 1)));
  *sql << "SELECT stage, assigned_queue, overdue_total_fen FROM cases "
          "WHERE case_id = 1",
      soci::into(stage), soci::into(queue), soci::into(total);
  EXPECT_EQ(stage, v1::STAGE_REMINDER);
  EXPECT_EQ(queue, "sms");
  EXPECT_EQ(total, 3'000 * CNY);
}

// A case read by LoadCases (the day's aging) is updated in only the
// columns its transition changes: SQLite rewrites the entry of every index
// on a column an UPDATE sets, changed or not, and PostgreSQL fires
// "UPDATE OF" triggers for every column set, so a probe trigger on columns
// that aging leaves alone sees no write. Cases read otherwise still get
// the whole row, and every changed column is written either way.
TEST_P(StoreTest, ApplyAfterLoadCasesSetsOnlyTheColumnsThatChanged) {
  const v1::Case a = Open("L-cols-a");
  const v1::Case b = Open("L-cols-b");
  const v1::Case c = Open("L-cols-c");
  auto raw = Raw();
  *raw << "CREATE TABLE column_writes (case_id BIGINT NOT NULL)";
  if (GetParam() == Backend::kPostgres) {
    *raw << "CREATE FUNCTION note_column_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO column_writes (case_id) VALUES (NEW.case_id); RETURN NULL; END $$";
    *raw << "CREATE TRIGGER column_write AFTER UPDATE OF loan_id, region, product, "
            "policy_version, assigned_queue ON cases FOR EACH ROW EXECUTE FUNCTION "
            "note_column_write()";
  } else {
    *raw << "CREATE TRIGGER column_write AFTER UPDATE OF loan_id, region, product, "
            "policy_version, assigned_queue ON cases BEGIN INSERT INTO column_writes "
            "(case_id) VALUES (NEW.case_id); END";
  }
  // a: a note; b: a new stage and class, the day's aging's kind of change.
  workflow::Transition note = Following(a);
  workflow::Transition moved = Following(b);
  moved.next.set_stage(v1::STAGE_COUNSELLING);
  moved.next.mutable_classification()->set_case_class(v1::CASE_CLASS_SEVERE);
  moved.next_aging_day = absl::CivilDay(2026, 12, 31);
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) -> absl::Status {
                    auto loaded = LoadCases(uow, {a.case_id(), b.case_id()});
                    if (!loaded.ok()) return loaded.status();
                    EXPECT_EQ(loaded->size(), 2u);
                    if (absl::Status s = uow.Apply(note, a.version()); !s.ok()) return s;
                    return uow.Apply(moved, b.version());
                  })
                  .ok());
  int writes = -1;
  *raw << "SELECT COUNT(*) FROM column_writes", soci::into(writes);
  EXPECT_EQ(writes, 0);

  // Read back: the body and every column the transitions changed.
  for (const workflow::Transition* t : {&note, &moved}) {
    absl::StatusOr<v1::Case> got = store_->GetCase(t->next.case_id());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(MessageDifferencer::Equals(*got, t->next)) << got->DebugString();
  }
  long long version = 0, next_aging = 0;
  int stage = 0, case_class = 0;
  *raw << "SELECT version, stage, case_class, next_aging_day FROM cases WHERE case_id = "
       << b.case_id(),
      soci::into(version), soci::into(stage), soci::into(case_class), soci::into(next_aging);
  EXPECT_EQ(version, b.version() + 1);
  EXPECT_EQ(stage, v1::STAGE_COUNSELLING);
  EXPECT_EQ(case_class, v1::CASE_CLASS_SEVERE);
  EXPECT_EQ(next_aging, workflow::DayNumber(absl::CivilDay(2026, 12, 31)));

  // A second transition of a case in the same command compares with the
  // first one's row; a case read one at a time gets the whole row.
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) -> absl::Status {
                    auto loaded = LoadCases(uow, {b.case_id()});
                    if (!loaded.ok()) return loaded.status();
                    workflow::Transition once = Following(moved.next);
                    if (absl::Status s = uow.Apply(once, moved.next.version()); !s.ok()) return s;
                    workflow::Transition again = Following(once.next);
                    again.next.set_assigned_queue("legal-review");
                    return uow.Apply(again, once.next.version());
                  })
                  .ok());
  ASSERT_TRUE(Apply(Following(c), c.version()).ok());
  std::string queue;
  *raw << "SELECT assigned_queue FROM cases WHERE case_id = " << b.case_id(), soci::into(queue);
  EXPECT_EQ(queue, "legal-review");
  *raw << "SELECT COUNT(*) FROM column_writes", soci::into(writes);
  EXPECT_EQ(writes, 2);  // b's queue, and c's update of the whole row
}

TEST_P(StoreTest, IdsAndAmountsAbove2To31RoundTripExactly) {
  const int64_t case_id = k2To31 + 5;
  const int64_t task_id = (int64_t{1} << 32) + 7;
  const int64_t handoff = (int64_t{1} << 33) + 1;
  const int64_t overdue = 3'000'000'000'00;       // 3 billion CNY
  const int64_t principal = 900'000'000'000'000;  // 9 trillion CNY
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) -> absl::Status {
                    if (auto s = uow.SetNextId("case", case_id); !s.ok()) return s;
                    if (auto s = uow.SetNextId("task", task_id); !s.ok()) return s;
                    return uow.SetNextId("handoff", handoff);
                  })
                  .ok());

  workflow::Transition t;
  int64_t next_case = 0;
  ASSERT_TRUE(
      store_
          ->Write([&](UnitOfWork& uow) -> absl::Status {
            absl::StatusOr<int64_t> id = uow.AllocateIds("case", 1);
            if (!id.ok()) return id.status();
            EXPECT_EQ(*id, case_id);
            t = Opening(*id, "L-big", overdue);
            t.next.set_principal_outstanding_fen(principal);
            t.next.mutable_classification()->set_overdue_total_fen(overdue);
            t.create_tasks[0].priority = 3'000'000'123'456;
            t.create_tasks[0].cost_fen = overdue;
            t.create_tasks[0].payload.set_overdue_total_fen(overdue);
            t.set_timers[0].timer.ref = k2To31 + 9;
            t.handoff = workflow::HandoffSpec{v1::HANDOFF_KIND_NEW_CASE, "severe", /*firm_id=*/""};
            if (auto s = uow.Apply(t, 0); !s.ok()) return s;
            absl::StatusOr<int64_t> after = uow.AllocateIds("case", 1);
            if (!after.ok()) return after.status();
            next_case = *after;
            return absl::OkStatus();
          })
          .ok());
  EXPECT_EQ(next_case, case_id + 1);

  absl::StatusOr<v1::Case> c = store_->GetCase(case_id);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->case_id(), case_id);
  EXPECT_EQ(c->overdue().principal_fen(), overdue);
  EXPECT_EQ(c->principal_outstanding_fen(), principal);
  EXPECT_TRUE(MessageDifferencer::Equals(*c, t.next));

  absl::StatusOr<std::vector<v1::Task>> tasks = store_->ListTasks(case_id);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[0].task_id(), task_id);
  EXPECT_EQ((*tasks)[1].task_id(), task_id + 1);
  EXPECT_EQ((*tasks)[0].case_id(), case_id);
  EXPECT_EQ((*tasks)[0].priority(), 3'000'000'123'456);
  EXPECT_EQ((*tasks)[0].payload().overdue_total_fen(), overdue);
  EXPECT_TRUE(store_->GetTask(task_id + 1).ok());

  absl::StatusOr<std::vector<workflow::TimerSpec>> timers = store_->ListTimers(case_id);
  ASSERT_TRUE(timers.ok());
  ASSERT_EQ(timers->size(), 1u);
  EXPECT_EQ((*timers)[0].timer.ref, k2To31 + 9);

  absl::StatusOr<std::vector<v1::Handoff>> handoffs = store_->ListHandoffs("", 0, 10);
  ASSERT_TRUE(handoffs.ok()) << handoffs.status();
  ASSERT_EQ(handoffs->size(), 1u);
  EXPECT_EQ((*handoffs)[0].sequence(), handoff);
  EXPECT_EQ((*handoffs)[0].case_id(), case_id);
  EXPECT_EQ((*handoffs)[0].kind(), v1::HANDOFF_KIND_NEW_CASE);
  EXPECT_EQ((*handoffs)[0].reason(), "severe");
  EXPECT_TRUE(MessageDifferencer::Equals((*handoffs)[0].case_(), t.next));
  EXPECT_TRUE(store_->ListHandoffs("", handoff, 10)->empty());

  // The BIGINT columns themselves, read as long long.
  auto sql = Raw();
  long long id = 0, total = 0, outstanding = 0, cost = 0, task = 0;
  *sql << "SELECT case_id, overdue_total_fen, principal_outstanding_fen "
          "FROM cases WHERE loan_id = 'L-big'",
      soci::into(id), soci::into(total), soci::into(outstanding);
  EXPECT_EQ(id, case_id);
  EXPECT_EQ(total, overdue);
  EXPECT_EQ(outstanding, principal);
  *sql << "SELECT task_id, cost_fen FROM tasks WHERE priority = 3000000123456", soci::into(task),
      soci::into(cost);
  EXPECT_EQ(task, task_id);
  EXPECT_EQ(cost, overdue);

  CaseFilter f;
  f.after_case_id = k2To31;
  absl::StatusOr<std::vector<v1::Case>> listed = store_->ListCases(f);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].case_id(), case_id);
}

TEST_P(StoreTest, InsertingAnExistingCaseIsAlreadyExists) {
  ASSERT_TRUE(Apply(Opening(1, "L-1"), 0).ok());
  EXPECT_EQ(Apply(Opening(1, "L-2"), 0).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Apply(Opening(2, "L-1"), 0).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->GetCaseByLoan("L-2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Events(2)->empty());
  EXPECT_EQ(store_->ListTasks(1)->size(), 2u);
}

// What the import's multi-row path writes for a new case must be what
// Apply writes for it, row for row (the reports and claims read the columns).
TEST_P(StoreTest, OpenCasesWritesTheRowsApplyWrites) {
  constexpr int kCases = 12;
  std::vector<workflow::Transition> one_by_one, together;
  for (int i = 0; i < kCases; ++i) {
    one_by_one.push_back(Opening(1 + i, absl::StrCat("A-", i), (1'000 + 250 * i) * CNY));
    together.push_back(Opening(1 + kCases + i, absl::StrCat("B-", i), (1'000 + 250 * i) * CNY));
  }
  // One without tasks or timers; one whose timer is set twice (the last
  // due day holds, as with the one-row upsert).
  one_by_one[3].create_tasks.clear();
  one_by_one[3].set_timers.clear();
  together[3].create_tasks.clear();
  together[3].set_timers.clear();
  for (auto* t : {&one_by_one[5], &together[5]}) {
    t->set_timers.push_back({{workflow::TimerKind::kPromiseDue, 7}, absl::CivilDay(2026, 11, 12)});
  }
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) -> absl::Status {
                    for (const auto& t : one_by_one) {
                      if (absl::Status s = uow.Apply(t, 0); !s.ok()) return s;
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_TRUE(store_->Write([&](UnitOfWork& uow) { return uow.OpenCases(together); }).ok());

  auto sql = Raw();
  // Every column but the ids, as one string per row.
  auto rows = [&](const std::string& select, long long case_id) {
    std::vector<std::string> out;
    soci::rowset<std::string> rs = (sql->prepare << select, soci::use(case_id));
    for (const std::string& r : rs) out.push_back(r);
    return out;
  };
  const std::string cases_columns =
      "SELECT version || '|' || stage || '|' || case_class || '|' || days_past_due || '|' || "
      "overdue_total_fen || '|' || principal_outstanding_fen || '|' || assigned_queue || '|' || "
      "policy_version || '|' || as_of_day || '|' || business_day || '|' || product || '|' || "
      "region || '|' || updated_at_us || '|' || oldest_due_day || '|' || next_aging_day "
      "FROM cases WHERE case_id = :c";
  const std::string events_columns =
      "SELECT seq || '|' || event_type || '|' || actor || '|' || occurred_at_us || '|' || "
      "business_day || '|' || policy_version FROM case_events WHERE case_id = :c ORDER BY seq";
  const std::string tasks_columns =
      "SELECT task_type || '|' || queue || '|' || state || '|' || priority || '|' || "
      "not_before_us || '|' || deadline_us || '|' || attempts || '|' || lease_owner || '|' || "
      "lease_token || '|' || lease_expires_us || '|' || cost_fen || '|' || payload || '|' || "
      "outcome || '|' || hold_reason || '|' || created_at_us || '|' || completed_at_us "
      "FROM tasks WHERE case_id = :c ORDER BY task_id";
  const std::string timers_columns =
      "SELECT kind || '|' || ref || '|' || due_day FROM timers WHERE case_id = :c "
      "ORDER BY kind, ref";
  const std::string facts_columns =
      "SELECT seq || '|' || day || '|' || event_type || '|' || actor || '|' || stage_before || "
      "'|' || stage_after || '|' || case_class || '|' || close_reason || '|' || task_id || '|' "
      "|| task_type || '|' || contact || '|' || right_party || '|' || reason || '|' || "
      "promise_fen || '|' || recovered_fen || '|' || waived_fen || '|' || policy_version || '|' "
      "|| product || '|' || region || '|' || queue || '|' || unallocated_fen || '|' || "
      "prev_entry_day || '|' || next_change_day FROM report_events WHERE case_id = :c ORDER BY "
      "seq";
  int with_tasks = 0;
  for (long long i = 0; i < kCases; ++i) {
    const long long a = 1 + i, b = 1 + kCases + i;
    SCOPED_TRACE(absl::StrCat("cases ", a, " and ", b));
    for (const std::string* q :
         {&cases_columns, &events_columns, &tasks_columns, &timers_columns, &facts_columns}) {
      std::vector<std::string> expected = rows(*q, a);
      EXPECT_FALSE(expected.empty() && q != &tasks_columns && q != &timers_columns) << *q;
      EXPECT_EQ(rows(*q, b), expected) << *q;
    }
    absl::StatusOr<v1::Case> c = store_->GetCase(b);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_TRUE(MessageDifferencer::Equals(*c, together[i].next));
    absl::StatusOr<std::vector<v1::CaseEvent>> events = Events(b);
    ASSERT_TRUE(events.ok() && events->size() == 1);
    EXPECT_TRUE(MessageDifferencer::Equals((*events)[0], together[i].event));
    with_tasks += !store_->ListTasks(b)->empty();
  }
  EXPECT_EQ(with_tasks, kCases - 1);
}

// MultiRowInsert carries an import's rows and a group commit's events and
// tasks. It counts only the rows that went in (OpenCases checks that count
// to refuse a loan opened meanwhile), stops at a row the table refuses,
// writes text as given (an empty string is not NULL), and its statement
// serves the next batch of the same shape (on SQLite, a one-row statement
// prepared once per connection; on PostgreSQL an unnest() of one array per
// column, whose text elements must come back exactly as given).
TEST_P(StoreTest, MultiRowInsertsCountTheRowsThatWentInAndStopAtARefusedOne) {
  std::unique_ptr<soci::session> sql = Raw();
  *sql << "CREATE TABLE batch_rows (id BIGINT PRIMARY KEY, name TEXT NOT NULL)";
  InsertSession session(*sql);
  MultiRowInsert some("INSERT INTO batch_rows (id, name) VALUES", "(?, ?)",
                      " ON CONFLICT DO NOTHING");
  some << 1LL << std::string("one") << 2LL << std::string("") << 1LL << std::string("again");
  EXPECT_EQ(some.Flush(session), 2);
  EXPECT_EQ(some.rows(), 0);
  some << 3LL << std::string("three") << 2LL << std::string("two again");
  EXPECT_EQ(some.Flush(session), 1);

  MultiRowInsert strict("INSERT INTO batch_rows (id, name) VALUES", "(?, ?)");
  {
    soci::transaction command(*sql);
    strict << 4LL << std::string("four") << 3LL << std::string("three again");
    absl::Status status;
    try {
      strict.Flush(session);
    } catch (...) {
      status = StatusFromCurrentException("insert");
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
    EXPECT_EQ(strict.rows(), 0);  // forgotten either way
    command.rollback();           // as the writer does with a failed command
  }
  strict << 4LL << std::string("four");
  EXPECT_EQ(strict.Flush(session), 1);
  // What an array literal would otherwise read as quotes, escapes,
  // separators, nested arrays or NULL; and a number past 32 bits.
  const std::vector<std::string> awkward = {
      "a \"quoted\" \\ back\\slash", "x,y", "{nested}", "NULL", " padded ", "贷款-7\n"};
  for (size_t i = 0; i < awkward.size(); ++i) {
    strict << static_cast<long long>(5 + i) << awkward[i];
  }
  strict << 5'000'000'000LL << std::string("big");
  EXPECT_EQ(strict.Flush(session), static_cast<long long>(awkward.size()) + 1);

  std::vector<std::string> names(11);
  std::vector<long long> ids(11);
  *sql << "SELECT id, name FROM batch_rows ORDER BY id", soci::into(ids), soci::into(names);
  EXPECT_EQ(ids, (std::vector<long long>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 5'000'000'000LL}));
  std::vector<std::string> expected = {"one", "", "three", "four"};
  expected.insert(expected.end(), awkward.begin(), awkward.end());
  expected.push_back("big");
  EXPECT_EQ(names, expected);
  long long nulls = -1;
  *sql << "SELECT COUNT(*) FROM batch_rows WHERE name IS NULL", soci::into(nulls);
  EXPECT_EQ(nulls, 0);
}

TEST_P(StoreTest, OpenCasesOfATakenLoanIsAbortedAndKeepsNothing) {
  ASSERT_TRUE(Apply(Opening(1, "L-1"), 0).ok());
  absl::Status s = store_->Write([&](UnitOfWork& uow) {
    return uow.OpenCases({Opening(2, "L-2"), Opening(3, "L-1"), Opening(4, "L-4")});
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  for (const char* loan : {"L-2", "L-4"}) {
    EXPECT_EQ(store_->GetCaseByLoan(loan).status().code(), absl::StatusCode::kNotFound) << loan;
  }
  for (int64_t id : {2, 3, 4}) {
    EXPECT_TRUE(Events(id)->empty()) << id;
    EXPECT_TRUE(store_->ListTasks(id)->empty()) << id;
  }
  // A transition that does more than open a case is a caller's bug.
  workflow::Transition later = Following(Opening(5, "L-5").next);
  EXPECT_EQ(store_->Write([&](UnitOfWork& uow) { return uow.OpenCases({later}); }).code(),
            absl::StatusCode::kInternal);
}

TEST_P(StoreTest, LoadCasesByLoansAnswersInTheLoansOrder) {
  // Loan ids are the bank's: on PostgreSQL they travel as one array
  // literal, whose quotes, escapes and separators they must not upset.
  const std::string awkward = "L-\"4\\,{x} NULL";
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(Apply(Opening(i, absl::StrCat("L-", i)), 0).ok());
  ASSERT_TRUE(Apply(Opening(4, awkward), 0).ok());
  std::vector<std::optional<v1::Case>> found;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) -> absl::Status {
                    auto cases = uow.LoadCasesByLoans({"L-3", "nobody", "L-1", "L-3", awkward});
                    if (!cases.ok()) return cases.status();
                    found = *std::move(cases);
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_EQ(found.size(), 5u);
  ASSERT_TRUE(found[0].has_value());
  EXPECT_EQ(found[0]->case_id(), 3);
  EXPECT_FALSE(found[1].has_value());
  ASSERT_TRUE(found[2].has_value());
  EXPECT_EQ(found[2]->case_id(), 1);
  ASSERT_TRUE(found[3].has_value());
  EXPECT_EQ(found[3]->case_id(), 3);
  ASSERT_TRUE(found[4].has_value());
  EXPECT_EQ(found[4]->case_id(), 4);
  EXPECT_EQ(found[4]->loan_id(), awkward);
}

// Several transitions of one command cancel open tasks (an aging batch:
// on PostgreSQL the cancellations go together, one statement at the end).
// Each cancels its own case's open tasks, as of its own time: also the
// tasks an earlier transition of the same command gave that case, never
// the tasks it creates itself; a second cancellation of a case with
// nothing new leaves the first one's time.
TEST_P(StoreTest, CancellationsOfOneCommandEachCancelTheirCasesOpenTasksAtTheirTime) {
  v1::Case a = Open("L-C1"), b = Open("L-C2"), c = Open("L-C3"), d = Open("L-C4");
  auto at = [](int minutes) { return kNow + absl::Minutes(minutes); };
  auto moving = [&](const v1::Case& from, int minutes, bool cancel, bool create) {
    workflow::Transition t = Following(from, at(minutes));
    t.cancel_open_tasks = cancel;
    if (create) {
      t.create_tasks = {MakeTask(v1::TASK_TYPE_COUNSELLING_CALL, "call.counselling", 500, kNow)};
    }
    return t;
  };
  const workflow::Transition ta = moving(a, 1, true, true), tb = moving(b, 2, true, true);
  const workflow::Transition tc1 = moving(c, 3, false, true);
  const workflow::Transition tc2 = moving(tc1.next, 4, true, true);
  const workflow::Transition td1 = moving(d, 5, true, false);
  const workflow::Transition td2 = moving(td1.next, 6, true, false);
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) -> absl::Status {
                    for (const workflow::Transition* t : {&ta, &tb, &tc1, &tc2, &td1, &td2}) {
                      RETURN_IF_ERROR(uow.Apply(*t, t->next.version() - 1));
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  auto sql = Raw();
  auto tasks_of = [&](const v1::Case& k) {
    std::vector<std::string> out;
    soci::rowset<std::string> rs =
        (sql->prepare << "SELECT state || ' ' || completed_at_us FROM tasks WHERE case_id = :c "
                         "ORDER BY task_id",
         soci::use(static_cast<long long>(k.case_id())));
    for (const std::string& r : rs) out.push_back(r);
    return out;
  };
  auto cancelled = [&](int minutes) {
    return absl::StrCat(static_cast<int>(v1::TASK_STATE_CANCELLED), " ",
                        absl::ToUnixMicros(at(minutes)));
  };
  const std::string ready = absl::StrCat(static_cast<int>(v1::TASK_STATE_READY), " 0");
  EXPECT_EQ(tasks_of(a), (std::vector<std::string>{cancelled(1), cancelled(1), ready}));
  EXPECT_EQ(tasks_of(b), (std::vector<std::string>{cancelled(2), cancelled(2), ready}));
  EXPECT_EQ(tasks_of(c),
            (std::vector<std::string>{cancelled(4), cancelled(4), cancelled(4), ready}));
  EXPECT_EQ(tasks_of(d), (std::vector<std::string>{cancelled(5), cancelled(5)}));
}

TEST_P(StoreTest, VersionConflictIsAbortedAndWritesNothing) {
  v1::Case c1 = Open("L-1");
  // Version 2: the stage moves on; open tasks are cancelled, a new one made.
  workflow::Transition t2 = Following(c1);
  t2.next.set_stage(v1::STAGE_COUNSELLING);
  t2.cancel_open_tasks = true;
  t2.clear_all_timers = true;
  t2.create_tasks = {MakeTask(v1::TASK_TYPE_COUNSELLING_CALL, "call.counselling", 500, kNow)};
  ASSERT_TRUE(Apply(t2, 1).ok());

  // A writer that read version 1 loses, with all its effects.
  workflow::Transition stale = Following(c1);
  stale.create_tasks = {MakeTask(v1::TASK_TYPE_HOME_VISIT, "field", 900, kNow)};
  stale.set_timers = {{{workflow::TimerKind::kPromiseDue, 99}, absl::CivilDay(2026, 12, 1)}};
  stale.handoff = workflow::HandoffSpec{v1::HANDOFF_KIND_NEW_CASE, "x", /*firm_id=*/""};
  absl::Status s = Apply(stale, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
  EXPECT_NE(s.message().find("changed concurrently"), std::string::npos) << s;
  // So does one that expects a version the case never had.
  workflow::Transition ahead = Following(t2.next);
  ahead.next.set_version(6);
  ahead.event.set_sequence(6);
  EXPECT_EQ(Apply(ahead, 5).code(), absl::StatusCode::kAborted);

  absl::StatusOr<v1::Case> now = store_->GetCase(c1.case_id());
  ASSERT_TRUE(now.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*now, t2.next));
  EXPECT_EQ(Events(c1.case_id())->size(), 2u);
  std::vector<v1::Task> tasks = *store_->ListTasks(c1.case_id());
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].state(), v1::TASK_STATE_CANCELLED);
  EXPECT_EQ(tasks[1].state(), v1::TASK_STATE_CANCELLED);
  EXPECT_EQ(tasks[2].state(), v1::TASK_STATE_READY);
  EXPECT_EQ(tasks[2].type(), v1::TASK_TYPE_COUNSELLING_CALL);
  EXPECT_TRUE(store_->ListTimers(c1.case_id())->empty());
  EXPECT_TRUE(store_->ListHandoffs("", 0, 10)->empty());

  // A transition that does not follow its expected version is a bug.
  EXPECT_EQ(Apply(Following(t2.next), 1).code(), absl::StatusCode::kInternal);
}

// Within one command each transition, and anything the command does after
// it, sees the rows the earlier transitions wrote: a later transition of the
// same case cancels the tasks an earlier one created, and a claim in the
// same command can hand out a task a transition just made ready (as a
// completion that claims the next task does).
TEST_P(StoreTest, TransitionsOfOneCommandSeeEachOthersRows) {
  v1::Case c1 = Open("L-1");
  v1::Case c2 = Open("L-2");
  workflow::Transition first = Following(c1);
  first.create_tasks = {MakeTask(v1::TASK_TYPE_HOME_VISIT, "field", 900, kNow)};
  workflow::Transition second = Following(first.next);
  second.next.set_stage(v1::STAGE_COUNSELLING);
  second.cancel_open_tasks = true;
  second.create_tasks = {MakeTask(v1::TASK_TYPE_COUNSELLING_CALL, "call.counselling", 500, kNow)};
  workflow::Transition other = Following(c2);
  other.create_tasks = {MakeTask(v1::TASK_TYPE_SMS_REMINDER, "text.later", 1, kNow)};
  std::vector<v1::Task> claimed;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) -> absl::Status {
                    RETURN_IF_ERROR(uow.Apply(first, 1));
                    RETURN_IF_ERROR(uow.Apply(other, 1));
                    RETURN_IF_ERROR(uow.Apply(second, 2));
                    ClaimSpec spec;
                    spec.queues = {"text.later"};
                    spec.worker = "w1";
                    spec.now = kNow;
                    ASSIGN_OR_RETURN(claimed, uow.ClaimTasks(spec));
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].case_id(), c2.case_id());
  EXPECT_EQ(claimed[0].type(), v1::TASK_TYPE_SMS_REMINDER);

  EXPECT_EQ(Events(c1.case_id())->size(), 3u);
  EXPECT_EQ(Events(c2.case_id())->size(), 2u);
  std::vector<v1::Task> tasks = *store_->ListTasks(c1.case_id());
  ASSERT_EQ(tasks.size(), 4u);  // the opening's two, the visit, the call
  for (int i = 0; i < 3; ++i) EXPECT_EQ(tasks[i].state(), v1::TASK_STATE_CANCELLED) << i;
  EXPECT_EQ(tasks[2].type(), v1::TASK_TYPE_HOME_VISIT);
  EXPECT_EQ(tasks[3].state(), v1::TASK_STATE_READY);
  EXPECT_EQ(tasks[3].type(), v1::TASK_TYPE_COUNSELLING_CALL);
}

TEST_P(StoreTest, FailedCommandLeavesNothingHalfWritten) {
  v1::Case c1 = Open("L-1");
  workflow::Transition paid = Following(c1);
  paid.event.mutable_payment()->set_payment_id("P-1");
  paid.event.mutable_payment()->set_amount_fen(500 * CNY);
  *paid.event.mutable_payment()->mutable_paid_on() = D(2026, 11, 2);
  ASSERT_TRUE(Apply(paid, 1).ok());
  absl::StatusOr<std::optional<StoredPayment>> p;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) {
                    p = uow.FindPayment("P-1");
                    return p.status();
                  })
                  .ok());
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->case_id, c1.case_id());
  EXPECT_EQ((*p)->payment.amount_fen(), 500 * CNY);

  // The same payment id again: the case row is written before the payment
  // row fails, so the command fails even though it ignores the error.
  workflow::Transition again = Following(paid.next);
  *again.event.mutable_payment() = paid.event.payment();
  again.create_tasks = {MakeTask(v1::TASK_TYPE_SMS_REMINDER, "sms", 1, kNow)};
  absl::Status s = store_->Write([&](UnitOfWork& uow) {
    uow.Apply(again, 2).IgnoreError();
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;

  // A command that applies and then fails rolls its writes back.
  workflow::Transition note = Following(paid.next);
  note.create_tasks = {MakeTask(v1::TASK_TYPE_SMS_REMINDER, "sms", 1, kNow)};
  s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
    if (auto a = uow.Apply(note, 2); !a.ok()) return a;
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  // And one that throws.
  s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
    if (auto a = uow.Apply(note, 2); !a.ok()) return a;
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("boom"), std::string::npos);

  absl::StatusOr<v1::Case> c = store_->GetCase(c1.case_id());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->version(), 2);
  EXPECT_EQ(Events(c1.case_id())->size(), 2u);
  EXPECT_EQ(store_->ListTasks(c1.case_id())->size(), 2u);
}

// An import's rows go to the bulk lane (WriteLane::kBulk): a command queued
// behind them runs first, the import still has every other turn, and its
// commits stay short while other commands come.
TEST_P(StoreTest, BulkCommandsLetOthersGoFirstAndStillTakeTurns) {
  std::mutex mu;
  std::vector<std::string> order;
  std::vector<std::future<absl::Status>> done;
  auto submit = [&](const std::string& name, WriteLane lane, std::shared_future<void> gate = {}) {
    auto promise = std::make_shared<std::promise<absl::Status>>();
    done.push_back(promise->get_future());
    store_->Submit(
        [&, name, gate](UnitOfWork&) {
          {
            std::lock_guard<std::mutex> lock(mu);
            order.push_back(name);
          }
          if (gate.valid()) gate.wait();
          return absl::OkStatus();
        },
        [promise](absl::Status s) { promise->set_value(s); }, lane);
  };
  auto hold_writer = [&](const std::string& name, WriteLane lane, std::promise<void>& release) {
    submit(name, lane, release.get_future().share());
    while (true) {  // until the writer runs it: a state, not a time
      std::lock_guard<std::mutex> lock(mu);
      if (!order.empty() && order.back() == name) break;
    }
  };

  // After another command's batch the bulk lane has its turn, however many
  // other commands wait.
  std::promise<void> first;
  hold_writer("claim 1", WriteLane::kAudited, first);
  submit("import rows 1", WriteLane::kBulk);
  submit("import rows 2", WriteLane::kBulk);
  submit("claim 2", WriteLane::kAudited);
  submit("signal 1", WriteLane::kAny);
  first.set_value();
  for (auto& f : done) ASSERT_TRUE(f.get().ok());
  EXPECT_EQ(order, (std::vector<std::string>{"claim 1", "import rows 1", "import rows 2", "claim 2",
                                             "signal 1"}));

  // After a bulk batch, commands queued behind more import rows go first.
  order.clear();
  done.clear();
  std::promise<void> second;
  hold_writer("import rows 3", WriteLane::kBulk, second);
  submit("import rows 4", WriteLane::kBulk);
  submit("claim 3", WriteLane::kAudited);
  submit("signal 2", WriteLane::kAny);
  second.set_value();
  for (auto& f : done) ASSERT_TRUE(f.get().ok());
  EXPECT_EQ(order,
            (std::vector<std::string>{"import rows 3", "claim 3", "signal 2", "import rows 4"}));

  // Soon after other commands, a bulk commit is kept short (32 commands):
  // 40 queued import commands commit in two.
  done.clear();
  std::promise<void> third;
  hold_writer("claim 4", WriteLane::kAudited, third);
  for (int i = 0; i < 40; ++i) submit(absl::StrCat("import rows ", 5 + i), WriteLane::kBulk);
  const int64_t commits_before = store_->writer_stats().commits;
  third.set_value();
  for (auto& f : done) ASSERT_TRUE(f.get().ok());
  EXPECT_EQ(store_->writer_stats().commits - commits_before, 3);  // the claim's, 32, 8
  EXPECT_EQ(store_->writer_stats().queued_commands, 0);
}

TEST_P(StoreTest, FailingCommandsInABatchDoNotAffectTheOthers) {
  // Case 1 holds handoff sequence 1, so that a command rewinding the
  // sequence hits a real database error (a primary key violation) in the
  // middle of its transition: PostgreSQL aborts the transaction there, and
  // only the command's savepoint saves the rest of the batch.
  {
    workflow::Transition t = Opening(1, "L-0");
    t.handoff = workflow::HandoffSpec{v1::HANDOFF_KIND_NEW_CASE, "first", /*firm_id=*/""};
    ASSERT_TRUE(Apply(t, 0).ok());
  }

  // Hold the writer so that everything below queues up into one batch.
  std::promise<void> started, release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<absl::Status> blocker_done;
  store_->Submit(
      [&started, gate](UnitOfWork&) {
        started.set_value();
        gate.wait();
        return absl::OkStatus();
      },
      [&](absl::Status s) { blocker_done.set_value(s); });
  started.get_future().wait();

  enum Kind { kOk, kDuplicateLoan, kFailsAfterWriting, kThrows, kDbError };
  const std::vector<Kind> kinds = {kOk, kDuplicateLoan, kOk,      kFailsAfterWriting,
                                   kOk, kThrows,        kDbError, kOk};
  std::vector<std::promise<absl::Status>> done(kinds.size());
  for (size_t i = 0; i < kinds.size(); ++i) {
    const Kind kind = kinds[i];
    const int64_t case_id = 100 + i;
    store_->Submit(
        [kind, case_id](UnitOfWork& uow) -> absl::Status {
          workflow::Transition t = Opening(
              case_id, kind == kDuplicateLoan ? std::string("L-0") : absl::StrCat("L-", case_id));
          t.handoff = workflow::HandoffSpec{v1::HANDOFF_KIND_NEW_CASE, "batch", /*firm_id=*/""};
          if (kind == kDbError) {
            if (auto s = uow.SetNextId("handoff", 1); !s.ok()) return s;
            uow.Apply(t, 0).IgnoreError();
            return absl::OkStatus();  // poisoned: fails anyway
          }
          if (auto s = uow.Apply(t, 0); !s.ok()) return s;
          if (kind == kFailsAfterWriting) return absl::CancelledError("no");
          if (kind == kThrows) throw std::runtime_error("thrown");
          return absl::OkStatus();
        },
        [&done, i](absl::Status s) { done[i].set_value(s); });
  }
  release.set_value();
  ASSERT_TRUE(blocker_done.get_future().get().ok());

  for (size_t i = 0; i < kinds.size(); ++i) {
    absl::Status s = done[i].get_future().get();
    const std::string loan = absl::StrCat("L-", 100 + i);
    switch (kinds[i]) {
      case kOk:
        EXPECT_TRUE(s.ok()) << i << ": " << s;
        EXPECT_TRUE(store_->GetCaseByLoan(loan).ok()) << loan;
        EXPECT_EQ(store_->ListTasks(100 + i)->size(), 2u);
        break;
      case kDuplicateLoan:
        EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
        break;
      case kFailsAfterWriting:
        EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
        break;
      case kThrows:
        EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
        break;
      case kDbError:
        EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
        break;
    }
    if (kinds[i] != kOk) {
      EXPECT_EQ(store_->GetCase(100 + i).status().code(), absl::StatusCode::kNotFound) << i;
      EXPECT_TRUE(store_->ListTasks(100 + i)->empty());
    }
  }
  // The successful commands' handoffs follow case 1's without a gap: the
  // rewinding command's SetNextId was rolled back with it.
  std::vector<v1::Handoff> handoffs = *store_->ListHandoffs("", 0, 100);
  ASSERT_EQ(handoffs.size(), 5u);
  for (size_t i = 0; i < handoffs.size(); ++i) {
    EXPECT_EQ(handoffs[i].sequence(), static_cast<int64_t>(i + 1));
  }
  WriterStats stats = store_->writer_stats();
  EXPECT_GE(stats.largest_batch, static_cast<int64_t>(kinds.size()));
  EXPECT_EQ(stats.failed_commands, 4);
}

TEST_P(StoreTest, AFullWriterQueueRefusesAtOnceAndOutcomesAreReported) {
  std::mutex mu;
  std::vector<absl::StatusCode> outcomes;
  StoreOptions options = OneWriter();
  options.max_queued_commands = 2;
  options.on_write_outcome = [&](const absl::Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    outcomes.push_back(s.code());
  };
  store_.reset();
  OpenStore(options);

  // Hold the writer: what follows waits in its queue.
  std::promise<void> started, release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<absl::Status> blocker_done;
  store_->Submit(
      [&started, gate](UnitOfWork& uow) -> absl::Status {
        started.set_value();
        gate.wait();
        return uow.Apply(Opening(1, "L-1"), 0);
      },
      [&](absl::Status s) { blocker_done.set_value(s); });
  started.get_future().wait();

  std::vector<std::promise<absl::Status>> done(3);
  for (int i = 0; i < 3; ++i) {
    store_->Submit(
        [i](UnitOfWork& uow) -> absl::Status {
          return uow.Apply(Opening(10 + i, absl::StrCat("L-", 10 + i)), 0);
        },
        [&done, i](absl::Status s) { done[i].set_value(s); });
  }
  // The third found two queued ahead of it: refused before the writer ran.
  absl::Status refused = done[2].get_future().get();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_EQ(store_->writer_stats().queued_commands, 2);
  EXPECT_EQ(store_->writer_stats().rejected_commands, 1);

  release.set_value();
  EXPECT_TRUE(blocker_done.get_future().get().ok());
  EXPECT_TRUE(done[0].get_future().get().ok());
  EXPECT_TRUE(done[1].get_future().get().ok());
  EXPECT_EQ(store_->GetCase(12).status().code(), absl::StatusCode::kNotFound);

  // A batch whose only command fails for its own reason says nothing about
  // the database; one that hits a database error does.
  EXPECT_EQ(store_->Write([](UnitOfWork&) { return absl::NotFoundError("no such case"); }).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Write([](UnitOfWork&) { return absl::InternalError("disk I/O error"); }).code(),
            absl::StatusCode::kInternal);
  store_.reset();  // its callbacks use the locals above
  OpenStore();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_FALSE(outcomes.empty());
  EXPECT_EQ(outcomes.front(), absl::StatusCode::kOk);
  EXPECT_EQ(outcomes.back(), absl::StatusCode::kInternal);
  for (absl::StatusCode c : outcomes) EXPECT_NE(c, absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, ConcurrentWritersAllLand) {
  StoreOptions options;
  options.writer_connections = 8;  // PostgreSQL: a pool of writers
  store_.reset();
  OpenStore(options);
  constexpr int kThreads = 8, kPerThread = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::Status s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
          absl::StatusOr<int64_t> id = uow.AllocateIds("case", 1);
          if (!id.ok()) return id.status();
          return uow.Apply(Opening(*id, absl::StrCat("L-", t, "-", i)), 0);
        });
        if (!s.ok()) ++failures;
        // A command that takes an id and then rolls back: the ids the
        // writers hand out next still never collide (a duplicate case id
        // would fail the insert above with ALREADY_EXISTS).
        s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
          absl::StatusOr<int64_t> id = uow.AllocateIds("case", 1);
          if (!id.ok()) return id.status();
          return absl::FailedPreconditionError("changed my mind");
        });
        if (s.code() != absl::StatusCode::kFailedPrecondition) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  CaseFilter f;
  f.limit = 1000;
  EXPECT_EQ(store_->ListCases(f)->size(), size_t{kThreads * kPerThread});
  WriterStats stats = store_->writer_stats();
  EXPECT_EQ(stats.commands, 2 * kThreads * kPerThread);
  EXPECT_LE(stats.commits, stats.commands);
}

// The writer hands each batch's answers to the store's answer thread: a
// caller hears of its command once, after the commit, in commit order, and
// closing the store answers every command it had accepted.
TEST_P(StoreTest, EveryAcceptedCommandIsAnsweredOnceInOrderBeforeTheStoreCloses) {
  StoreOptions options;
  options.writer_connections = 1;  // one writer: commit order is submit order
  store_.reset();
  OpenStore(options);
  std::promise<void> started, release;
  std::shared_future<void> gate = release.get_future().share();
  store_->Submit(
      [&started, gate](UnitOfWork&) {
        started.set_value();
        gate.wait();
        return absl::OkStatus();
      },
      [](absl::Status) {});
  started.get_future().wait();
  constexpr int kCommands = 200;
  std::mutex mu;
  std::vector<std::pair<int, absl::Status>> answers;
  for (int i = 0; i < kCommands; ++i) {
    store_->Submit(
        [i](UnitOfWork& uow) { return uow.Apply(Opening(1000 + i, absl::StrCat("L-", i)), 0); },
        [&, i](absl::Status s) {
          std::lock_guard<std::mutex> lock(mu);
          answers.push_back({i, std::move(s)});
        });
  }
  release.set_value();
  store_.reset();  // closes while most commands still wait for the writer
  ASSERT_EQ(answers.size(), size_t{kCommands});
  for (int i = 0; i < kCommands; ++i) {
    EXPECT_EQ(answers[i].first, i);
    EXPECT_TRUE(answers[i].second.ok()) << i << ": " << answers[i].second;
  }
  OpenStore(options);
  CaseFilter f;
  f.limit = 1000;
  EXPECT_EQ(store_->ListCases(f)->size(), size_t{kCommands});
}

// The parallel write path (several writers on PostgreSQL, one on SQLite):
// commands that race on one case are retried, not surfaced; claims from
// many writers never hand out a task twice.
TEST_P(StoreTest, RacesOnOneCaseAllLandOneAfterAnother) {
  StoreOptions options;
  options.writer_connections = 8;
  store_.reset();
  OpenStore(options);
  ASSERT_TRUE(Apply(Opening(1, "L-1"), 0).ok());
  constexpr int kThreads = 8, kPerThread = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        absl::Status s = store_->Write([](UnitOfWork& uow) -> absl::Status {
          absl::StatusOr<std::optional<v1::Case>> c = uow.LoadCase(1);
          if (!c.ok()) return c.status();
          return uow.Apply(Following(**c), (*c)->version());
        });
        if (!s.ok()) {
          ADD_FAILURE() << s;
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  // Every command landed once, in some order, each on the version before.
  EXPECT_EQ(store_->GetCase(1)->version(), 1 + kThreads * kPerThread);
  absl::StatusOr<std::vector<v1::CaseEvent>> events = Events(1);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->size(), size_t{1 + kThreads * kPerThread});
  WriterStats stats = store_->writer_stats();
  EXPECT_EQ(stats.failed_commands, 0);
  if (GetParam() == Backend::kSqlite) {
    EXPECT_EQ(stats.retried_commands, 0);
  }
}

TEST_P(StoreTest, ClaimsFromManyWritersNeverShareATask) {
  StoreOptions options;
  options.writer_connections = 8;
  store_.reset();
  OpenStore(options);
  constexpr int kCases = 120;
  for (int i = 0; i < kCases; ++i) Open(absl::StrCat("L-", i));  // one sms task each
  std::mutex mu;
  std::vector<int64_t> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (;;) {
        std::vector<v1::Task> got;
        absl::Status s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
          ClaimSpec spec;
          spec.queues = {"sms"};
          spec.worker = absl::StrCat("w", t);
          spec.now = kNow;
          absl::StatusOr<std::vector<v1::Task>> r = uow.ClaimTasks(spec);
          if (!r.ok()) return r.status();
          got = *r;
          return absl::OkStatus();
        });
        ASSERT_TRUE(s.ok()) << s;
        if (got.empty()) return;
        std::lock_guard<std::mutex> lock(mu);
        for (const v1::Task& task : got) claimed.push_back(task.task_id());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::sort(claimed.begin(), claimed.end());
  EXPECT_EQ(claimed.size(), size_t{kCases});
  EXPECT_EQ(std::adjacent_find(claimed.begin(), claimed.end()), claimed.end()) << "claimed twice";
}

// Handoffs created by parallel writers (PostgreSQL) reach a reader that
// keeps asking for "after the last sequence I saw" in order and without a
// gap: sequences are assigned in commit order, so none commits late below
// one already read.
TEST_P(StoreTest, HandoffsFromParallelWritersAreReadInOrderWithoutSkips) {
  StoreOptions options;
  options.writer_connections = 8;
  store_.reset();
  OpenStore(options);
  constexpr int kThreads = 8, kPerThread = 30;
  std::atomic<bool> writing{true};
  std::vector<int64_t> streamed;
  std::thread reader([&] {
    int64_t after = 0;
    for (;;) {
      const bool last_round = !writing.load();
      absl::StatusOr<std::vector<v1::Handoff>> page = store_->ListHandoffs("", after, 100);
      ASSERT_TRUE(page.ok()) << page.status();
      for (const v1::Handoff& h : *page) {
        streamed.push_back(h.sequence());
        after = h.sequence();
      }
      if (last_round && page->empty()) return;
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int64_t case_id = 1 + t * kPerThread + i;
        absl::Status s = store_->Write([&](UnitOfWork& uow) {
          workflow::Transition open = Opening(case_id, absl::StrCat("L-", case_id));
          open.handoff = workflow::HandoffSpec{v1::HANDOFF_KIND_NEW_CASE, "parallel", ""};
          return uow.Apply(open, 0);
        });
        ASSERT_TRUE(s.ok()) << s;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  writing.store(false);
  reader.join();
  // Every handoff, each once, in sequence order: 1, 2, 3, ...
  ASSERT_EQ(streamed.size(), size_t{kThreads * kPerThread});
  for (size_t i = 0; i < streamed.size(); ++i) {
    ASSERT_EQ(streamed[i], static_cast<int64_t>(i + 1)) << "skipped or out of order at " << i;
  }
}

// SQLite's write-ahead log is copied into the database file beside the
// writer (WalCheckpointer), so that no commit waits for a checkpoint, and
// what was written stays readable through it all.
TEST_P(StoreTest, TheWalIsCheckpointedBesideTheWriter) {
  if (GetParam() != Backend::kSqlite) GTEST_SKIP() << "SQLite's write-ahead log";
  store_.reset();
  StoreOptions options = OneWriter();
  options.sqlite_wal_autocheckpoint_pages = 32;
  OpenStore(options);
  constexpr int kCases = 300;
  for (int i = 0; i < kCases; ++i) {
    ASSERT_TRUE(Apply(Opening(i + 1, absl::StrCat("L-", i)), 0).ok());
  }
  // Its thread runs on its own: poll until it has run (not time passing).
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (store_->writer_stats().background_checkpoints == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  const WriterStats stats = store_->writer_stats();
  EXPECT_GT(stats.background_checkpoints, 0);
  EXPECT_EQ(stats.commits, kCases);
  for (int i : {1, kCases / 2, kCases}) {
    EXPECT_TRUE(store_->GetCase(i).ok()) << i;
  }
  // After a restart too.
  store_.reset();
  OpenStore(options);
  EXPECT_EQ(store_->ListTasks(kCases)->size(), 2u);
}

// The commit that restarts the write-ahead log leaves its file as large as
// it grew: SQLite cut it back (to 64 MiB, as it was set) in that commit, on
// the writer's thread, and freeing the file's cached pages there held every
// caller for hundreds of milliseconds (bench/RESULTS.md).
TEST_P(StoreTest, TheWritersCommitsNeverTruncateTheWal) {
  if (GetParam() != Backend::kSqlite) GTEST_SKIP() << "SQLite's write-ahead log";
  constexpr int kMiB = 80;  // past the 64 MiB the file was cut back to
  auto run = [&](const std::string& statement) {
    return store_->Write([&](UnitOfWork& uow) {
      return StoreInternals::RunStep(uow, [&](soci::session& sql, Backend) { sql << statement; });
    });
  };
  ASSERT_TRUE(run("CREATE TABLE wal_filler (b BLOB)").ok());
  ASSERT_TRUE(run(absl::StrCat("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                               "WHERE i < ",
                               kMiB, ") INSERT INTO wal_filler SELECT zeroblob(1048576) FROM n"))
                  .ok());
  auto sql = Raw();
  std::string name, file;
  int seq = 0;
  *sql << "PRAGMA database_list", soci::into(seq), soci::into(name), soci::into(file);
  const std::string wal = file + "-wal";
  auto size_of = [](const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : int64_t{-1};
  };
  const int64_t grown = size_of(wal);
  ASSERT_GT(grown, int64_t{kMiB} << 20);
  // Everything copied into the database: the writer's next commit restarts
  // the log from the start of its file.
  int busy = -1, log = -1, done = -1;
  *sql << "PRAGMA wal_checkpoint(PASSIVE)", soci::into(busy), soci::into(log), soci::into(done);
  ASSERT_EQ(busy, 0);
  ASSERT_EQ(done, log);
  ASSERT_TRUE(run("INSERT INTO wal_filler VALUES (x'00')").ok());
  *sql << "PRAGMA wal_checkpoint(PASSIVE)", soci::into(busy), soci::into(log), soci::into(done);
  EXPECT_LT(log, 100) << "the log restarted";
  EXPECT_EQ(size_of(wal), grown);
  ASSERT_TRUE(run("DROP TABLE wal_filler").ok());
}

TEST_P(StoreTest, ConnectionsAreCountedWhileInUse) {
  EXPECT_EQ(store_->writer_connections(), 1);  // the fixture's one writer
  EXPECT_EQ(store_->readers_in_use(), 0);
  int during = -1;
  ASSERT_TRUE(ReadForReport(*store_, [&](soci::session&) {
                during = store_->readers_in_use();
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(during, 1);
  EXPECT_EQ(store_->readers_in_use(), 0);
  StoreOptions options;
  options.writer_connections = 3;
  store_.reset();
  OpenStore(options);
  EXPECT_EQ(store_->writer_connections(), GetParam() == Backend::kSqlite ? 1 : 3);
}

TEST_P(StoreTest, ReadsSeeOnlyCommittedData) {
  std::promise<void> applied, release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<absl::Status> done;
  store_->Submit(
      [&applied, gate](UnitOfWork& uow) -> absl::Status {
        if (auto s = uow.Apply(Opening(1, "L-1"), 0); !s.ok()) return s;
        applied.set_value();
        gate.wait();
        return absl::OkStatus();
      },
      [&](absl::Status s) { done.set_value(s); });
  applied.get_future().wait();
  EXPECT_EQ(store_->GetCaseByLoan("L-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Events(1)->empty());
  release.set_value();
  ASSERT_TRUE(done.get_future().get().ok());
  EXPECT_TRUE(store_->GetCaseByLoan("L-1").ok());
}

TEST_P(StoreTest, ListCasesFiltersAndPages) {
  std::vector<v1::Case> cases;
  for (int i = 0; i < 5; ++i) cases.push_back(Open(absl::StrCat("L-", i)));
  // Case 3 (id 4) becomes severe legal action at 95 days, aged to 2026-12-01.
  workflow::Transition t = Following(cases[3]);
  t.next.set_stage(v1::STAGE_LEGAL_ACTION);
  t.next.mutable_classification()->set_case_class(v1::CASE_CLASS_SEVERE);
  t.next.set_days_past_due(95);
  t.next.set_assigned_queue("field");
  *t.next.mutable_business_date() = D(2026, 12, 1);
  ASSERT_TRUE(Apply(t, 1).ok());

  auto ids = [&](const CaseFilter& f) {
    std::vector<int64_t> out;
    absl::StatusOr<std::vector<v1::Case>> r = store_->ListCases(f);
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) {
      for (const v1::Case& c : *r) out.push_back(c.case_id());
    }
    return out;
  };
  using V = std::vector<int64_t>;
  CaseFilter f;
  EXPECT_EQ(ids(f), (V{1, 2, 3, 4, 5}));
  f.stages = {v1::STAGE_LEGAL_ACTION};
  EXPECT_EQ(ids(f), (V{4}));
  f.stages = {v1::STAGE_REMINDER, v1::STAGE_LEGAL_ACTION};
  EXPECT_EQ(ids(f), (V{1, 2, 3, 4, 5}));
  f = CaseFilter();
  f.classes = {v1::CASE_CLASS_MILD};
  EXPECT_EQ(ids(f), (V{1, 2, 3, 5}));
  f = CaseFilter();
  f.min_days_past_due = 90;
  EXPECT_EQ(ids(f), (V{4}));
  f = CaseFilter();
  f.max_days_past_due = 30;
  EXPECT_EQ(ids(f), (V{1, 2, 3, 5}));
  f = CaseFilter();
  f.assigned_queue = "field";
  EXPECT_EQ(ids(f), (V{4}));
  f = CaseFilter();
  f.business_date_before = absl::CivilDay(2026, 12, 1);
  EXPECT_EQ(ids(f), (V{1, 2, 3, 5}));
  f = CaseFilter();
  f.policy_version = 2;
  EXPECT_EQ(ids(f), V{});
  f = CaseFilter();
  f.updated_since = kNow + absl::Seconds(30);
  EXPECT_EQ(ids(f), (V{4}));
  f = CaseFilter();
  f.limit = 2;
  EXPECT_EQ(ids(f), (V{1, 2}));
  f.after_case_id = 2;
  EXPECT_EQ(ids(f), (V{3, 4}));
  f.after_case_id = 4;
  EXPECT_EQ(ids(f), (V{5}));
}

}  // namespace
}  // namespace collections::storage
