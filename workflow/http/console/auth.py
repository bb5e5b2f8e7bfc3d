"""Signing in (with an API key), signing out, and choosing the language."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from workflow.http.console import session
from workflow.http.console.i18n import LANGUAGES, translations
from workflow.http.console.web import (
    ANONYMOUS,
    TEMPLATES,
    engine_of,
    language_of,
    page_context,
    redirect,
    secret_of,
    with_session,
)

router = APIRouter()


def _anonymous(request: Request) -> session.Principal:
    """The pre-session of the sign-in form (kept if it is still good)."""
    found = session.unseal(secret_of(request), request.cookies.get(session.COOKIE))
    return found if found is not None and found.role == ANONYMOUS else session.fresh("", ANONYMOUS)


def _login_page(
    request: Request, principal: session.Principal, error: str = "", status: int = 200
) -> Response:
    language = language_of(request)
    context = {
        "request": request,
        "_": translations(language).gettext,
        "language": language,
        "csrf": session.csrf_token(secret_of(request), principal),
        "error": error,
        "next": _safe_next(request.query_params.get("next")),
        "principal": None,
        "path": request.url.path,
    }
    response = TEMPLATES.TemplateResponse(request, "login.html", context, status_code=status)
    return with_session(response, request, principal)


def _safe_next(target: str | None) -> str:
    """Only a path of the console itself: never an open redirect."""
    if target and target.startswith("/console/") and "//" not in target and "\\" not in target:
        return target
    return "/console/calls"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    """The sign-in form: an API key of a console role."""
    return _login_page(request, _anonymous(request))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Exchange the key for a session cookie; the key itself is never stored in the browser."""
    form = await request.form()
    anonymous = _anonymous(request)
    if not session.csrf_ok(secret_of(request), anonymous, str(form.get("csrf", ""))):
        return _login_page(request, session.fresh("", ANONYMOUS), "expired", status=400)
    principal = session.sign_in_with_key(engine_of(request).db, str(form.get("key", ""))[:200])
    if principal is None:
        return _login_page(request, anonymous, "refused", status=401)
    target = _safe_next(str(form.get("next", "")))
    return with_session(redirect(target), request, principal)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (the cookie is cleared; a key session can also be ended by revoking the key)."""
    page = page_context(request)
    form = await request.form()
    if not session.csrf_ok(page.secret, page.principal, str(form.get("csrf", ""))):
        return redirect("/console/calls")
    response = redirect("/console/login")
    response.delete_cookie(session.COOKIE, path="/console")
    return response


@router.get("/lang/{code}")
def choose_language(request: Request, code: str) -> Response:
    """Remember the chosen language (a preference, not an action: a GET is fine)."""
    response = redirect(_safe_next(request.query_params.get("next")))
    if code in LANGUAGES:
        response.set_cookie(
            session.LANGUAGE_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/console"
        )
    return response
