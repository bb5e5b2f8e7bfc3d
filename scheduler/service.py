"""APScheduler 3.11 wiring: jobs reconciled from the domain, fired through the engine.

The scheduler only triggers. Each job fires one engine trigger as ``system``
with the rule's instant as ``effective_at`` and an idempotency key, so a job
run twice changes nothing the second time, and a refused one (the guard still
says no, e.g. a deadline moved meanwhile) is only logged: the engine decides.

Jobs live in APScheduler's memory store and are rebuilt from the database at
start, after every event this process commits, and every ``reconcile_every``
seconds (for changes made by other processes). ``misfire_grace_time=None``:
a job whose time passed while no scheduler ran fires when one starts, with the
original instant as its effective time (catch-up).
"""

from __future__ import annotations

import threading
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobEvent
from apscheduler.jobstores.base import JobLookupError

from scheduler.background import QuiescentScheduler
from scheduler.leader import leader_for
from scheduler.plan import Job, plan
from workflow import Engine, Event, FiliereError, GuardRefused, TransitionNotAllowed, get_logger

log = get_logger("filiere.scheduler")
ROME = ZoneInfo("Europe/Rome")
#: Events after which the plan may have changed.
PLANNING_TRIGGERS = frozenset(
    {"create", "open", "close", "extend", "request_integration", "integrate", "lapse"}
)


class SchedulerService:
    """The scheduler of one database.

    Args:
        engine: the engine whose database is scheduled (its clock is the one guards read).
        reconcile_every: seconds between reconciliations with the database.
    """

    def __init__(self, engine: Engine, *, reconcile_every: float = 30.0) -> None:
        self.engine = engine
        self.reconcile_every = reconcile_every
        self.leader = leader_for(engine)
        self.scheduler = QuiescentScheduler(
            timezone=ROME,
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        )
        self.scheduler.add_listener(self._on_trouble, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        self._reconciling = threading.Lock()
        self._stopping = False
        self._unsubscribe: Any = None
        self.fired: list[Event] = []

    # --- life cycle -------------------------------------------------------------

    def start(self, *, wait_for_lead: bool = True) -> None:
        """Take the lead (SQLite: refuse if taken; PostgreSQL: wait as a standby), then schedule."""
        self._stopping = False
        log.info("scheduler waiting for the lead" if wait_for_lead else "scheduler taking the lead")
        self.leader.acquire(wait=wait_for_lead)
        log.info("scheduler leading", database=self.engine.db.url.render_as_string(hide_password=True))
        self.scheduler.start()
        self._unsubscribe = self.engine.subscribe(self._on_event)
        self.scheduler.add_job(
            self.reconcile,
            "interval",
            seconds=self.reconcile_every,
            id="filiere:reconcile",
            replace_existing=True,
        )
        self.reconcile()

    def stop(self) -> None:
        """Stop scheduling, wait for running jobs, give the lead up.

        APScheduler 3's ``shutdown(wait=True)`` holds its job-store lock while it
        waits for running jobs, and a job reconciles after its own event (a close
        plans the expiries): a reconcile reaching the job store then would wait
        for the shutdown that waits for it. So reconciling is switched off first,
        and a reconcile already under way is let finish, before the shutdown.
        """
        with self._reconciling:
            self._stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.leader.release()
        log.info("scheduler stopped")

    def healthy(self) -> bool:
        """Whether we still lead (a lost PostgreSQL session means another process may)."""
        return bool(self.leader.held())

    # --- jobs -------------------------------------------------------------------

    def reconcile(self) -> list[Job]:
        """Make the scheduled jobs exactly the plan the database asks for now."""
        with self._reconciling:
            if self._stopping:
                return []
            wanted = {job.id: job for job in plan(self.engine)}
            present = {
                j.id
                for j in self.scheduler.get_jobs()
                if j.id.startswith("filiere:") and j.id != "filiere:reconcile"
            }
            for obsolete in present - set(wanted):
                try:
                    self.scheduler.remove_job(obsolete)
                except JobLookupError:
                    # It became due and ran between our listing and now: APScheduler
                    # removes a one-shot job as it hands it over. Nothing is left to remove.
                    continue
                log.info("job removed", job=obsolete)
            for job_id in set(wanted) - present:
                job = wanted[job_id]
                self.scheduler.add_job(
                    self.fire, "date", run_date=job.run_at, args=(job,), id=job_id, replace_existing=True
                )
                log.info("job planned", job=job_id, run_at=job.run_at.astimezone(ROME).isoformat())
            return list(wanted.values())

    def fire(self, job: Job) -> Event | None:
        """Run one job: fire its trigger through the engine, idempotently."""
        late = (self.engine.clock.now() - job.run_at).total_seconds()  # a simulation's clock too
        structlog.contextvars.bind_contextvars(job=job.id)
        try:
            event = self.engine.fire(
                job.kind,
                job.entity_id,
                job.trigger,
                actor="system",
                role="system",
                payload=dict(job.payload),
                idempotency_key=job.idempotency_key,
                effective_at=job.effective_at,
            )
        except (GuardRefused, TransitionNotAllowed) as exc:
            log.info("job refused by the engine", reason=str(exc))
            return None
        except FiliereError as exc:
            log.error("job failed", error=str(exc))
            return None
        finally:
            structlog.contextvars.unbind_contextvars("job")
        what = "job caught up" if late > 1 else "job fired"
        log.info(what, job=job.id, seq=event.seq, replayed=event.replayed, late_seconds=round(late, 3))
        self.fired.append(event)
        return event

    def _on_event(self, event: Event) -> None:
        # A date job leaves APScheduler's store before it runs, so reconciling from
        # inside a job's own fire never removes the running job.
        if event.trigger in PLANNING_TRIGGERS:
            self.reconcile()

    def _on_trouble(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("job missed", job=event.job_id)
        else:
            log.error("job raised", job=event.job_id, error=repr(getattr(event, "exception", None)))
