#include "server/experiment_assignment.h"

#include <optional>

#include "common/status_macros.h"
#include "server/transitions.h"
#include "storage/experiments.h"
#include "workflow/dates.h"
#include "workflow/experiment.h"
#include "workflow/state_machine.h"

namespace collections::server {

absl::Status OpenCase(storage::UnitOfWork& uow, PolicyRegistry& policies,
                      const ExperimentRegistry* experiments, const Clock& clock,
                      const v1::CaseEvent& event, absl::CivilDay today) {
  std::optional<v1::Experiment> live;
  if (experiments != nullptr) live = experiments->Live();
  if (!live || live->state() != v1::EXPERIMENT_STATE_RUNNING) {
    return DecideAndApply(uow, policies, clock, nullptr, event).status();
  }
  const absl::Time now = clock.Now();
  ASSIGN_OR_RETURN(const v1::Policy* champion, policies.Get(live->arms(0).policy_version()));
  ASSIGN_OR_RETURN(workflow::Transition opened,
                   workflow::Decide(v1::Case(), event, *champion, now));
  const v1::Case& c = opened.next;
  if (!workflow::IsOpenStage(c.stage()) ||
      !workflow::TakesPart(*live, today, c.classification().case_class(), c.product(),
                           c.borrower().region())) {
    return DecideAndApply(uow, policies, clock, nullptr, event).status();
  }
  const int bucket = workflow::AssignmentBucket(live->experiment_id(), c.loan_id());
  const int arm_index = workflow::ArmForBucket(*live, bucket);
  const v1::ExperimentArm& arm = live->arms(arm_index);
  const v1::Policy* policy = champion;
  if (arm.policy_version() != champion->version()) {
    ASSIGN_OR_RETURN(policy, policies.Get(arm.policy_version()));
    ASSIGN_OR_RETURN(opened, workflow::Decide(v1::Case(), event, *policy, now));
  }
  RETURN_IF_ERROR(uow.Apply(opened, 0));

  v1::CaseEvent assign;
  *assign.mutable_business_date() = workflow::DayToProto(today);
  assign.set_actor(kExperimentActor);
  v1::ExperimentAssigned& a = *assign.mutable_experiment_assigned();
  a.set_experiment_id(live->experiment_id());
  a.set_arm(arm.name());
  a.set_from_version(policy->version());
  a.set_to_version(policy->version());
  a.set_bucket(bucket);
  ASSIGN_OR_RETURN(workflow::Transition assigned,
                   workflow::Decide(opened.next, assign, *policy, now));
  RETURN_IF_ERROR(uow.Apply(assigned, opened.next.version()));
  storage::CaseArm row;
  row.case_id = opened.next.case_id();
  row.experiment_id = live->experiment_id();
  row.arm = arm_index;
  row.day = today;
  row.bucket = storage::DpdBucketOf(opened.next.days_past_due());
  return storage::RecordCaseArm(uow, row);
}

}  // namespace collections::server
