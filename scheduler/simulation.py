"""Driving the scheduler by hand: a simulation runs its jobs up to a moment, in order, on its own clock.

``SchedulerService`` waits for the wall clock; a simulation (a test, the demo,
a what-if run of a call's year) cannot. :func:`run_until` asks the plan which
job is due next, moves the simulated clock to that job's instant, fires it
exactly as the service does, and asks again: a fire changes the plan (a close
plans the expiries, an extension moves the close), so the plan is never
computed once for the whole run.
"""

from __future__ import annotations

from datetime import datetime

from scheduler.plan import Job, plan
from scheduler.service import SchedulerService
from workflow import ConfigurationError, Engine, Event, InvalidInput, SimulatedClock


def run_until(engine: Engine, moment: datetime) -> list[Event]:
    """Fire every job due up to ``moment``, each at its own instant; leave the clock at ``moment``.

    Jobs already due fire at the clock's current instant (as a scheduler
    catching up would); later ones move the clock to their ``run_at`` first.
    A job the engine refuses is not tried again in this run.

    Returns:
        The events the jobs committed, in order (follow-ups are in the log, not here).

    Raises:
        ConfigurationError: the engine's clock is not a :class:`~workflow.SimulatedClock`.
        InvalidInput: ``moment`` is naive, or before the clock.
    """
    clock = engine.clock
    if not isinstance(clock, SimulatedClock):
        raise ConfigurationError("run_until", "clock", "needs an engine with a SimulatedClock")
    if moment.utcoffset() is None:
        raise InvalidInput("moment", "must be an aware datetime (with a time zone)")
    if moment < clock.now():
        raise InvalidInput("moment", f"{moment.isoformat()} is before the clock ({clock.now().isoformat()})")
    service = SchedulerService(engine)
    tried: set[str] = set()
    fired: list[Event] = []
    while (job := _next_due(engine, moment, tried)) is not None:
        tried.add(job.id)
        if job.run_at > clock.now():
            clock.set(job.run_at)
        event = service.fire(job)
        if event is not None and not event.replayed:
            fired.append(event)
    clock.set(moment)
    return fired


def _next_due(engine: Engine, moment: datetime, tried: set[str]) -> Job | None:
    """The earliest job due by ``moment`` not yet tried (the plan's own order breaks ties)."""
    due = [job for job in plan(engine) if job.run_at <= moment and job.id not in tried]
    return min(due, key=lambda job: job.run_at) if due else None
