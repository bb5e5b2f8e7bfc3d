"""``filiere serve``, ``filiere apikey …`` and ``filiere webhook …``: Filiere for other systems.

``serve`` runs the HTTP API (``docs/embedding.md``) and, unless told not to,
the webhook deliverer in the same process. Keys and webhooks are managed here,
by operators, never over HTTP: a key is shown once, when it is created.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import click

from workflow.cli.common import Ctx, emit, engine_of, guarded, json_option, plural, role_option, when


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--webhooks/--no-webhooks", default=True, show_default=True, help="Deliver webhooks too.")
@click.pass_obj
@guarded
def serve(state: Ctx, host: str, port: int, webhooks: bool) -> None:
    """Run the HTTP API (and the webhook deliverer) on this database; logs one line per request."""
    import uvicorn

    from workflow.http.api import create_app
    from workflow.http.webhooks import Deliverer

    engine = engine_of(state)
    deliverer = Deliverer(engine.db, clock=engine.clock) if webhooks else None
    if deliverer is not None:
        threading.Thread(target=deliverer.run, name="filiere-webhooks", daemon=True).start()
    app = create_app(engine)
    app.middleware("http")(_log_request)

    class Server(uvicorn.Server):
        """uvicorn's server, saying where it listens once the socket is bound (``--port 0`` too)."""

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                bound_host, bound_port = self.servers[0].sockets[0].getsockname()[:2]
                url = f"http://{bound_host}:{bound_port}"
                emit(
                    state, {"listening": url, "docs": f"{url}/docs"}, f"listening on {url} (docs: {url}/docs)"
                )

    # uvicorn's own lines are kept to warnings: ours say the same, once, in the configured format.
    server = Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    try:
        server.run()
    finally:
        if deliverer is not None:
            deliverer.stop()


async def _log_request(request: Any, call_next: Any) -> Any:
    """One INFO line per request: method, path, status and time (never a header: keys are secrets)."""
    import time

    from workflow.logconfig import get_logger

    started = time.perf_counter()
    response = await call_next(request)
    get_logger("filiere.http").info(
        "request",
        method=request.method,
        path=request.url.path,
        status=response.status_code,
        ms=round((time.perf_counter() - started) * 1000, 3),
    )
    return response


@click.group("apikey")
def apikey_group() -> None:
    """API keys for the HTTP API: each acts as one actor in one role."""


@apikey_group.command("create")
@click.option("--actor", required=True, help="Who the key acts as (e.g. capofila.alfa, sistema.bandi).")
@role_option()
@click.option("--note", default="", help="What the key is for (shown in `apikey list`).")
@json_option
@click.pass_obj
@guarded
def apikey_create(state: Ctx, actor: str, role: str, note: str) -> None:
    """Create a key; the whole key is printed once and never stored."""
    from workflow.http import keys

    engine = engine_of(state)
    key, secret = keys.create(engine.db, actor=actor, role=role, note=note, now=engine.clock.now())
    emit(
        state,
        {**key.to_json(), "key": secret},
        f"key {key.id} for {actor} ({role}):\n{secret}\nKeep it now: it is not shown again.",
    )


@apikey_group.command("list")
@json_option
@click.pass_obj
@guarded
def apikey_list(state: Ctx) -> None:
    """Every key (never their secrets), revoked ones included."""
    from workflow.http import keys

    found = keys.all_keys(engine_of(state).db)
    emit(
        state,
        {"keys": [k.to_json() for k in found]},
        "\n".join(_key_line(k) for k in found) or "no keys",
    )


def _key_line(key: Any) -> str:
    status = f"REVOKED {when(key.revoked_at)}" if key.revoked_at else "live"
    return f"{key.id}  {key.actor} ({key.role})  {status}  {key.note}"


@apikey_group.command("revoke")
@click.argument("key_id")
@json_option
@click.pass_obj
@guarded
def apikey_revoke(state: Ctx, key_id: str) -> None:
    """Revoke a key: it stops working at once."""
    from workflow.http import keys

    engine = engine_of(state)
    key = keys.revoke(engine.db, key_id, engine.clock.now())
    emit(state, key.to_json(), f"key {key.id} ({key.actor}) revoked")


@click.group("webhook")
def webhook_group() -> None:
    """Webhooks: every committed event POSTed to a URL, in order, at least once, signed."""


@webhook_group.command("add")
@click.argument("url")
@click.option(
    "--secret", help="A Standard Webhooks secret, whsec_<base64> (default: a random one, printed once)."
)
@click.option("--from-seq", type=int, help="Deliver events after this seq (default: from now on).")
@click.option(
    "--allow-private",
    is_flag=True,
    help="Admit a private or loopback address (an intranet or test receiver); never link-local.",
)
@json_option
@click.pass_obj
@guarded
def webhook_add(state: Ctx, url: str, secret: str | None, from_seq: int | None, allow_private: bool) -> None:
    """Register a URL to receive the event log (user:password@ in it is kept apart, never listed)."""
    from workflow.http.webhooks import add

    engine = engine_of(state)
    hook = add(
        engine.db, url, engine.clock.now(), secret=secret, from_seq=from_seq, allow_private=allow_private
    )
    emit(
        state,
        {**hook.to_json(), "secret": hook.secret},
        f"webhook {hook.id} -> {hook.url}"
        + (" (with credentials, kept apart)" if hook.credentials else "")
        + f", from event {hook.delivered_seq}; signing secret:\n{hook.secret}",
    )


@webhook_group.command("list")
@json_option
@click.pass_obj
@guarded
def webhook_list(state: Ctx) -> None:
    """Every webhook, how far it got, and its last error (never its secret or credentials)."""
    from workflow.http.webhooks import all_webhooks

    hooks = all_webhooks(engine_of(state).db)
    emit(
        state, {"webhooks": [h.to_json() for h in hooks]}, "\n".join(map(_hook_line, hooks)) or "no webhooks"
    )


def _hook_line(hook: Any) -> str:
    from handlers.timeutil import for_people

    line = f"{hook.id}  {hook.url}  delivered to {hook.delivered_seq}"
    if hook.attempts:
        line += f"  {hook.attempts} failed attempts: {hook.last_error}"
        if hook.next_attempt_at:
            line += f"; next at {for_people(hook.next_attempt_at)}"
    return line + ("  (removed)" if hook.disabled_at else "")


@webhook_group.command("remove")
@click.argument("hook_id")
@json_option
@click.pass_obj
@guarded
def webhook_remove(state: Ctx, hook_id: str) -> None:
    """Stop delivering to a webhook."""
    from workflow.http.webhooks import remove

    engine = engine_of(state)
    remove(engine.db, hook_id, engine.clock.now())
    emit(state, {"id": hook_id, "removed": True}, f"webhook {hook_id} removed")


@webhook_group.command("deliver")
@click.option("--once", is_flag=True, help="One round, then exit (for cron); default: run until stopped.")
@json_option
@click.pass_obj
@guarded
def webhook_deliver(state: Ctx, once: bool) -> None:
    """Deliver pending events to every webhook (``serve`` does this too)."""
    from workflow.http.webhooks import Deliverer

    engine = engine_of(state)
    deliverer = Deliverer(engine.db, clock=engine.clock)
    if once:
        delivered: Any = deliverer.run_once()
        emit(state, {"delivered": delivered}, f"{plural(int(delivered), 'event')} delivered")
        return
    try:
        deliverer.run()
    except KeyboardInterrupt:
        deliverer.stop()
        sys.exit(0)


COMMANDS = (serve, apikey_group, webhook_group)
