"""The deadline crush: 10,000 submissions in the last minute, several processes, then the close.

Run: ``.venv/bin/python bench/deadline_crush.py [--backend sqlite|postgres|both] [--submissions 10000]``

Real time, real processes, the real scheduler. A call is created whose
deadline is a minute or two from now (Europe/Rome, to the second), opened,
and given ``--submissions`` complete drafts of one partnership. The real
``SchedulerService`` runs in this process and will close the call 1 ms after
the deadline. Worker processes (2 on SQLite, 8 on PostgreSQL) then submit the
drafts on a schedule that crowds toward the deadline, as applicants do: the
send times are ``deadline - 60 s * u²`` for ``u`` uniform in [0, 1), so an
eighth of them fall in the last second, plus 2% sent up to 0.5 s after the
deadline, which must be refused. Each worker sleeps until a draft's send
time (or sends at once if behind) and times ``Engine.fire``.

Then, from the database: every submission a worker saw accepted is submitted
(none lost), none was accepted after the deadline (the guard reads the clock
inside the transaction), the close was committed within 1 s of the deadline,
and the latency of a submission (p50, p99). Submissions sent before the
deadline but refused because their transaction got the lock after it are
counted apart: that is the queue's share of the crush.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CALL = "CRUSH-2022"
OWNER = "capofila.alfa"


def _engine(url: str) -> Any:
    from workflow.clock import SystemClock
    from workflow.engine import Engine
    from workflow.logconfig import configure

    configure(level=logging.WARNING)
    return Engine(url, clock=SystemClock())


def prepare(url: str, submissions: int, crush_seconds: float) -> tuple[Any, datetime, list[str]]:
    """The call (deadline to come), open, with ``submissions`` drafts; return engine, deadline, drafts."""
    from handlers.timeutil import ROME
    from tests.factories import World, call_config

    engine = _engine(url)
    rate = 150 if url.startswith("postgresql") else 400  # drafts/s while setting up, with a margin
    setup_budget = 20 + submissions // rate
    now = datetime.now(ROME).replace(microsecond=0)
    deadline = now + timedelta(seconds=setup_budget + round(crush_seconds))
    config = call_config(
        code=CALL,
        opens_at=(now - timedelta(hours=1)).replace(tzinfo=None).isoformat(),
        deadline={"at": deadline.replace(tzinfo=None).isoformat(), "act": "bench"},
    )
    engine.create("call", actor="op.rossi", role="operator", payload=config)
    engine.fire("call", CALL, "open", actor="system", role="system")
    world = World(engine=engine, clock=engine.clock, path="")  # type: ignore[arg-type]
    partnership = world.partnership(OWNER)
    drafts = [world.draft(OWNER, partnership=partnership, call=CALL) for _ in range(submissions)]
    return engine, deadline.astimezone(UTC), drafts


def send_times(count: int, deadline: datetime, crush_seconds: float, seed: int = 2022) -> list[datetime]:
    """When each draft is sent: crowding toward the deadline, 2% just after it."""
    rng = random.Random(seed)
    late = count // 50
    times = [deadline - timedelta(seconds=crush_seconds * rng.random() ** 2) for _ in range(count - late)]
    times += [deadline + timedelta(seconds=0.5 * rng.random() + 0.001) for _ in range(late)]
    rng.shuffle(times)
    return times


def worker(url: str, plan_file: Path, out: Path) -> None:
    """Submit this worker's drafts at their send times; write what happened as JSON lines."""
    from workflow.errors import FiliereError

    engine = _engine(url)
    plan = sorted((datetime.fromisoformat(t), p) for t, p in json.loads(plan_file.read_text()))
    results = []
    for sent, proposal in plan:
        wait = (sent - datetime.now(UTC)).total_seconds()
        if wait > 0:
            time.sleep(wait)
        behind = (datetime.now(UTC) - sent).total_seconds() * 1000
        started = time.perf_counter()
        try:
            event = engine.fire("proposal", proposal, "submit", actor=OWNER, role="applicant")
            outcome, at = "accepted", event.occurred_at.isoformat()
        except FiliereError as exc:
            outcome, at = type(exc).__name__, None
        results.append(
            {
                "id": proposal,
                "sent": sent.isoformat(),
                "ms": (time.perf_counter() - started) * 1000,
                "behind_ms": behind,
                "outcome": outcome,
                "at": at,
            }
        )
    out.write_text("\n".join(json.dumps(r) for r in results))


def crush(url: str, processes: int, submissions: int, crush_seconds: float, folder: Path) -> dict[str, Any]:
    """One crush on one database; return its figures."""
    from scheduler.service import SchedulerService

    engine, deadline, drafts = prepare(url, submissions, crush_seconds)
    service = SchedulerService(engine, reconcile_every=3600)
    closed = threading.Event()
    close_seen: dict[str, datetime] = {}

    def on_event(event: Any) -> None:
        if (event.entity_kind, event.trigger) == ("call", "close"):
            close_seen["at"] = datetime.now(UTC)
            closed.set()

    engine.subscribe(on_event)
    service.start(wait_for_lead=False)
    times = send_times(len(drafts), deadline, crush_seconds)
    plans, outs, workers = [], [], []
    for w in range(processes):
        plan_file, out = folder / f"plan-{w}.json", folder / f"out-{w}.jsonl"
        share = [(t.isoformat(), p) for t, p in zip(times[w::processes], drafts[w::processes], strict=True)]
        plan_file.write_text(json.dumps(share))
        plans.append(plan_file)
        outs.append(out)
    start_at = deadline - timedelta(seconds=crush_seconds + 3)
    if datetime.now(UTC) > start_at:
        raise SystemExit(f"setting up took too long: {datetime.now(UTC) - start_at} past the crush's start")
    for plan_file, out in zip(plans, outs, strict=True):
        command = [sys.executable, __file__, "--worker", url, str(plan_file), str(out)]
        workers.append(subprocess.Popen(command))
    for process in workers:
        if process.wait() != 0:
            raise SystemExit("a worker failed")
    closed.wait(timeout=30)
    for _ in range(1200):  # the expiry jobs that follow the close
        if not engine.find("proposal", parent_id=CALL, state="draft"):
            break
        time.sleep(0.1)
    close_seen["expired"] = datetime.now(UTC)
    service.stop()
    results = [json.loads(line) for out in outs for line in out.read_text().splitlines()]
    return _figures(engine, deadline, results, close_seen)


def _figures(
    engine: Any, deadline: datetime, results: list[dict[str, Any]], seen: dict[str, datetime]
) -> dict[str, Any]:
    close_at = seen.get("at")
    accepted = [r for r in results if r["outcome"] == "accepted"]
    sent_before = [r for r in results if datetime.fromisoformat(r["sent"]) <= deadline]
    queued_out = [r for r in sent_before if r["outcome"] != "accepted"]
    submitted = {e.id for e in engine.entities("proposal", states=("submitted",))}
    events = [e for e in engine.events() if (e.entity_kind, e.trigger) == ("proposal", "submit")]
    latest = max(e.occurred_at for e in events) if events else None
    latencies = sorted(r["ms"] for r in accepted)
    call = engine.get("call", CALL)
    close = (
        next(e for e in engine.history("call", CALL) if e.trigger == "close")
        if call.state == "closed"
        else None
    )
    return {
        "sent": len(results),
        "sent_before_deadline": len(sent_before),
        "accepted": len(accepted),
        "lost": len({r["id"] for r in accepted} - submitted),
        "accepted_after_deadline": sum(1 for e in events if e.occurred_at > deadline),
        "latest_submission_before_deadline_s": (deadline - latest).total_seconds() if latest else None,
        "refused_though_sent_in_time": len(queued_out),
        "their_refusals": dict(Counter(r["outcome"] for r in queued_out)),
        "their_worst_start_behind_send_ms": max((r["behind_ms"] for r in queued_out), default=None),
        "worst_start_behind_send_ms": max(r["behind_ms"] for r in results),
        "call_state": call.state,
        "close_started_after_deadline_s": (close.occurred_at - deadline).total_seconds() if close else None,
        "close_committed_after_deadline_s": (close_at - deadline).total_seconds() if close_at else None,
        "drafts_left_at_the_close": close.payload["effects"].get("drafts_left") if close else None,
        "all_drafts_expired_after_deadline_s": (seen["expired"] - deadline).total_seconds(),
        "drafts_still_draft": len(engine.find("proposal", parent_id=CALL, state="draft")),
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else None,
        "max_ms": latencies[-1] if latencies else None,
    }


def _postgres_url(base: str) -> str:
    from durable_fire import fresh_postgres  # bench/ is on sys.path when a script runs

    return fresh_postgres(base).replace("postgresql://", "postgresql+psycopg://")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--crush-seconds", type=float, default=60.0)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--worker", nargs=3, metavar=("URL", "PLAN", "OUT"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), Path(args.worker[2]))
        return
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    for backend in backends:
        with tempfile.TemporaryDirectory() as folder:
            if backend == "sqlite":
                url, processes = f"sqlite:///{Path(folder) / 'crush.db'}", 2
            else:
                url, processes = _postgres_url(args.postgres), 8
            figures = crush(url, processes, args.submissions, args.crush_seconds, Path(folder))
            print(f"{backend}, {processes} processes, {args.submissions:,} submissions:")
            print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
