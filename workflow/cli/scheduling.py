"""``filiere scheduler``: run the scheduler, or show the jobs it would hold."""

from __future__ import annotations

import json
import sys

import click

from workflow.cli.common import EXIT_CODES, Ctx, engine_of, guarded, json_option, when


@click.group("scheduler")
def scheduler_group() -> None:
    """The scheduler: deadlines and measure windows fired on time."""


@scheduler_group.command("run")
@click.option("--reconcile-every", default=30.0, show_default=True, help="Seconds between reconciliations.")
@click.option(
    "--health-every", default=5.0, show_default=True, help="Seconds between checks that we still lead."
)
@click.pass_obj
@guarded
def scheduler_run(state: Ctx, reconcile_every: float, health_every: float) -> None:
    """Run the scheduler until SIGTERM or SIGINT (PostgreSQL: a second one waits as standby)."""
    import signal
    import threading

    import structlog

    from scheduler.service import SchedulerService

    engine = engine_of(state)
    service = SchedulerService(engine, reconcile_every=reconcile_every)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    service.start(wait_for_lead=engine.db.dialect.name != "sqlite")
    lost = False
    while not stopping.wait(health_every):
        if not service.healthy():
            structlog.get_logger("filiere.scheduler").error("scheduler lost the lead; stopping")
            lost = True
            break
    service.stop()
    sys.exit(EXIT_CODES["scheduler lost the lead"] if lost else 0)


@scheduler_group.command("plan")
@json_option
@click.pass_obj
@guarded
def scheduler_plan(state: Ctx) -> None:
    """Show the jobs the database asks for now (what a running scheduler holds)."""
    from handlers.timeutil import to_json
    from scheduler.plan import plan

    for job in sorted(plan(engine_of(state)), key=lambda j: j.run_at):
        if state.as_json:
            click.echo(
                json.dumps(
                    {
                        "id": job.id,
                        "run_at": to_json(job.run_at),
                        "kind": job.kind,
                        "entity_id": job.entity_id,
                        "trigger": job.trigger,
                    }
                )
            )
        else:
            click.echo(f"{when(job.run_at)}  {job.trigger} {job.kind} {job.entity_id}")


COMMANDS = (scheduler_group,)
