"""The console: web pages in Italian (English on request) for the people who run and audit a call.

Served by ``filiere serve`` under ``/console`` on the same engine, roles and
keys as the HTTP API. Server-rendered HTML (Jinja2) with htmx for partial
updates, in the look of the Italian public administration's design system
(Bootstrap Italia); its CSS, fonts and scripts are served from the package,
never from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from workflow.http.console import acting, audit_pages, auth, pages
from workflow.http.console.i18n import translations
from workflow.http.console.web import TEMPLATES, NotForThisRole, SignInFirst, language_of

STATIC = Path(__file__).parent / "static"


def mount_console(app: FastAPI) -> None:
    """Add the console's pages and assets to ``app`` (whose ``state.engine`` they use)."""
    for module in (auth, pages, acting, audit_pages):
        app.include_router(module.router, prefix="/console", include_in_schema=False)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")

    @app.exception_handler(SignInFirst)
    async def sign_in_first(_request: Request, exc: SignInFirst) -> Response:
        return RedirectResponse(f"/console/login?next={exc.target}", status_code=303)

    @app.exception_handler(NotForThisRole)
    async def not_for_this_role(request: Request, _exc: NotForThisRole) -> Response:
        language = language_of(request)
        context = {
            "request": request,
            "_": translations(language).gettext,
            "language": language,
            "principal": None,
            "message": "forbidden",
            "path": request.url.path,
        }
        response: HTMLResponse = TEMPLATES.TemplateResponse(request, "error.html", context, status_code=403)
        return response
