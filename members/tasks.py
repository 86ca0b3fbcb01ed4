"""Celery tasks of members: thin, take ids, idempotent."""

import time

from celery import shared_task

# --- Legacy cards, tags and targeted issues -------------------------------------------------

# A big import or issue outlives the default time limit; each task checks its own progress
# and a redelivered one does no harm (see the services).
_LONG_TIME_LIMIT = 4 * 3600


@shared_task(acks_late=True, time_limit=_LONG_TIME_LIMIT, soft_time_limit=_LONG_TIME_LIMIT - 60)
def legacy_import_run_task(import_id: int) -> None:
    from members.services.legacy import legacy_import_run

    legacy_import_run(import_id=import_id)


@shared_task
def tag_rules_evaluate_task() -> None:
    from members.services.tags import tag_rules_evaluate

    tag_rules_evaluate()


# How long one run of a targeted issue works before handing over to a fresh task.
_TARGETED_ISSUE_SLICE_SECONDS = 120


@shared_task(bind=True)
def targeted_issue_run_task(self, issue_id: int) -> None:
    from members.models import TargetedIssueStatus
    from members.services.targeted_issues import targeted_issue_run

    issue = targeted_issue_run(
        issue_id=issue_id, deadline=time.monotonic() + _TARGETED_ISSUE_SLICE_SECONDS
    )
    if issue.status == TargetedIssueStatus.RUNNING:
        self.apply_async(args=[issue_id])
