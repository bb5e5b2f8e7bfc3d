"""The console's plumbing: templates, the signed-in principal, sign-in and sign-out, the language.

Every page goes through :func:`page_context`, which finds the principal (a
session cookie, or the trusted single-sign-on headers when configured), refuses
roles that have no console, and gives the template its language, formatters and
CSRF token. Every state-changing request goes through :func:`require_form`,
which checks the token and refuses auditors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine as SAEngine

from workflow.engine import Engine
from workflow.http.console import session
from workflow.http.console.i18n import Formatter, chosen, translations

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.autoescape = True
TEMPLATES.env.globals["quote"] = quote
#: Trusted single-sign-on: the reverse proxy's headers naming the user and the role.
USER_HEADER_VARIABLE = "FILIERE_CONSOLE_USER_HEADER"
ROLE_HEADER_VARIABLE = "FILIERE_CONSOLE_ROLE_HEADER"


#: The role of the pre-session that carries the sign-in form's CSRF nonce.
ANONYMOUS = "anonymous"


class SignInFirst(Exception):
    """No valid session: the page answers with a redirect to the sign-in form."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


class NotForThisRole(Exception):
    """The principal's role may not see this console page, or may not act."""


@dataclass
class Page:
    """What every template receives."""

    request: Request
    engine: Engine
    principal: session.Principal
    secret: bytes
    language: str

    def context(self, **values: Any) -> dict[str, Any]:
        """The template's variables: the page's own plus the shared ones."""
        gettext = translations(self.language).gettext
        return {
            "request": self.request,
            "principal": self.principal,
            "language": self.language,
            "_": gettext,
            "fmt": Formatter(self.language),
            "csrf": session.csrf_token(self.secret, self.principal),
            "path": self.request.url.path,
            **values,
        }

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        """Render ``template`` for this principal."""
        return TEMPLATES.TemplateResponse(self.request, template, self.context(**values), status_code=status)


def engine_of(request: Request) -> Engine:
    """The engine the application serves."""
    engine: Engine = request.app.state.engine
    return engine


def secret_of(request: Request) -> bytes:
    """The console's signing secret, read once per application."""
    cached: bytes | None = getattr(request.app.state, "console_secret", None)
    if cached is None:
        cached = session.console_secret(engine_of(request).db)
        request.app.state.console_secret = cached
    return cached


def language_of(request: Request) -> str:
    """``?lang=`` wins, then the language cookie, then Italian."""
    return chosen(request.query_params.get("lang") or request.cookies.get(session.LANGUAGE_COOKIE))


def _from_headers(request: Request) -> session.Principal | None:
    user_header, role_header = os.environ.get(USER_HEADER_VARIABLE), os.environ.get(ROLE_HEADER_VARIABLE)
    if not user_header or not role_header:
        return None
    actor, role = request.headers.get(user_header), request.headers.get(role_header)
    if not actor or not role or not actor.isprintable() or len(actor) > 200:
        return None
    # The nonce of a header session lives in the session cookie like any other.
    cookie = session.unseal(secret_of(request), request.cookies.get(session.COOKIE))
    nonce = cookie.nonce if cookie and cookie.actor == actor and cookie.role == role else None
    principal = session.fresh(actor, role)
    return session.Principal(actor, role, nonce or principal.nonce, None, principal.expires)


def principal_of(request: Request, db: SAEngine) -> session.Principal | None:
    """The signed-in principal, if any (and still valid)."""
    cookie = request.cookies.get(session.COOKIE)
    principal = _from_headers(request) or session.unseal(secret_of(request), cookie)
    if principal is None or principal.role == ANONYMOUS or not session.still_valid(db, principal):
        return None
    return principal


def page_context(request: Request) -> Page:
    """The page's context; redirects to sign-in without a session, 403 for a role with no console."""
    engine = engine_of(request)
    principal = principal_of(request, engine.db)
    if principal is None:
        raise SignInFirst(request.url.path)
    if principal.role not in session.CONSOLE_ROLES:
        raise NotForThisRole
    return Page(request, engine, principal, secret_of(request), language_of(request))


async def require_form(request: Request) -> tuple[Page, dict[str, str]]:
    """A state-changing request: a session, a valid CSRF token, and a role that may act."""
    page = page_context(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not session.csrf_ok(page.secret, page.principal, form.get("csrf")) or page.principal.read_only:
        raise NotForThisRole
    return page, form


def with_session(response: Response, request: Request, principal: session.Principal) -> Response:
    """Set the session cookie: HttpOnly, SameSite=Strict, Secure when served over HTTPS."""
    response.set_cookie(
        session.COOKIE,
        session.seal(secret_of(request), principal),
        max_age=session.LIFETIME_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/console",
    )
    return response


def redirect(target: str) -> RedirectResponse:
    """A 303 (a POST answered by a GET)."""
    return RedirectResponse(target, status_code=303)
