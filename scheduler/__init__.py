"""Time-based triggering only: deadlines and windows come from the domain tables.

``SchedulerService`` keeps APScheduler's jobs equal to the plan the database
asks for (``scheduler.plan``) and fires each through the engine; ``leader``
makes sure one process schedules at a time; ``run_until`` drives the same
jobs on a simulated clock. Decisions stay in the engine.
"""

from __future__ import annotations

from scheduler.plan import Job, plan
from scheduler.service import SchedulerService
from scheduler.simulation import run_until

__all__ = ["Job", "SchedulerService", "plan", "run_until"]
