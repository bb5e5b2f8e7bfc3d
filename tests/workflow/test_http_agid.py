"""The HTTP API to the AgID guidelines: problem+json for every error, cursor paging, rate limits, docs assets.

Every error class of the engine is walked through the API (a route that raises
it, added to the real app) and must come back as ``application/problem+json``
with its status, its documented ``type`` and its facts; so must the door's
413, FastAPI's own 404 and 405, and a bug's 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import CALL_ID, World
from workflow import errors
from workflow.errors import FiliereError
from workflow.http import keys
from workflow.http.api import Unauthenticated, create_app
from workflow.http.limits import MAX_BODY_BYTES, BodyTooLarge
from workflow.http.problems import MEDIA_TYPE, TITLES, type_of
from workflow.http.ratelimit import Buckets, RateLimit, TooManyRequests

EMBEDDING = Path(__file__).parent.parent.parent / "docs" / "embedding.md"

#: One instance of every error class the engine has (a new class must be added here).
EXAMPLES: list[FiliereError] = [
    errors.FiliereError("something refused"),
    errors.ConfigurationError("call MI", "deadline", "not a date"),
    errors.InvalidDefinition("proposal", "a state nobody reaches"),
    errors.InvalidInput("title", "empty"),
    BodyTooLarge(10**7),
    errors.NotFound("proposal", "P-000009"),
    errors.TransitionNotAllowed("proposal", "P-000001", "listed", "submit", ("withdraw",)),
    errors.GuardRefused("proposal", "P-000001", "submit", "deadline_not_passed", "too late", data={"a": 1}),
    errors.ForbiddenRole("proposal", "fund", "auditor", ("operator",)),
    errors.ConflictError("changed"),
    errors.VersionConflict("proposal", "P-000001", 1, 3),
    errors.IdempotencyMismatch("submit-1", 7),
    errors.AlreadyExists("evaluator", "eval.bianchi"),
    errors.DatabaseError("deadlock"),
    errors.DatabaseUnavailable("connection refused"),
    errors.AlreadyRunning("pid 12"),
    errors.HandlerError("proposal", "submit", "a bug"),
    errors.FileUnavailable("--file", "/nope", "missing"),
    Unauthenticated(),
    TooManyRequests("3f9a1c2b7d4e", 7),
]


def _subclasses(cls: type) -> set[type]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


@pytest.fixture(name="raising")
def _raising(world: World) -> Iterator[TestClient]:
    """The real app, plus a route that raises EXAMPLES[n]."""
    app = create_app(world.engine, rate_limit=None)

    @app.get("/raise/{n}")
    def raise_it(n: int) -> None:
        raise EXAMPLES[n]

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_the_examples_cover_every_error_class() -> None:
    """A new error class without an example here (and a title, and a line in the docs) fails."""
    import workflow.http.api  # noqa: F401 - its classes count too

    ours = {c for c in _subclasses(FiliereError) if c.__module__.startswith("workflow")}
    assert ours == {type(e) for e in EXAMPLES}
    assert set(TITLES) >= {c.__name__ for c in ours}


@pytest.mark.parametrize("n", range(len(EXAMPLES)), ids=[type(e).__name__ for e in EXAMPLES])
def test_every_error_class_is_a_problem(raising: TestClient, n: int) -> None:
    """Status, media type, RFC 9457 members, the documented type, and the class's facts."""
    error = EXAMPLES[n]
    answer = raising.get(f"/raise/{n}")
    body = answer.json()
    assert answer.status_code == error.http_status == body["status"]
    assert answer.headers["content-type"] == MEDIA_TYPE
    name = type(error).__name__
    assert body["type"] == type_of(name)
    assert re.fullmatch(r"urn:filiere:problem:[a-z-]+", body["type"])
    assert (body["title"], body["detail"], body["instance"], body["error"]) == (
        TITLES[name],
        str(error),
        f"/raise/{n}",
        name,
    )
    for fact in ("field", "guard", "reason"):
        assert body[fact] == getattr(error, fact, None)
    assert f"`{body['type']}`" in EMBEDDING.read_text(), f"{body['type']} is not in docs/embedding.md"


def test_headers_of_an_error(raising: TestClient) -> None:
    """A 429 says when to come back; a 401 names the scheme."""
    n429 = next(i for i, e in enumerate(EXAMPLES) if isinstance(e, TooManyRequests))
    n401 = next(i for i, e in enumerate(EXAMPLES) if isinstance(e, Unauthenticated))
    assert raising.get(f"/raise/{n429}").headers["retry-after"] == "7"
    assert raising.get(f"/raise/{n401}").headers["www-authenticate"].startswith("Bearer")


def test_errors_outside_the_engine_are_problems_too(raising: TestClient) -> None:
    """An unknown path, a wrong method, a bug, a body too large, a body that is not JSON."""
    cases = {
        404: raising.get("/v1/nowhere"),
        405: raising.delete("/v1/whoami"),
        500: raising.get("/bug"),
        413: raising.post(
            "/v1/entities/call", content=b"x" * (MAX_BODY_BYTES + 1), headers={"content-type": "text/plain"}
        ),
        422: raising.post(
            "/v1/entities/call", content=b"{nope", headers={"content-type": "application/json"}
        ),
    }
    for status, answer in cases.items():
        body = answer.json()
        assert (answer.status_code, body["status"], answer.headers["content-type"]) == (
            status,
            status,
            MEDIA_TYPE,
        )
        assert {"type", "title", "detail", "instance"} <= set(body)
    assert "a bug" not in cases[500].text  # no traceback, no internals
    assert cases[413].json()["type"] == type_of("BodyTooLarge")


def test_every_error_type_in_the_docs_table_is_real() -> None:
    """The docs list no type the code does not produce."""
    documented = set(re.findall(r"`(urn:filiere:problem:[a-z-]+)`", EMBEDDING.read_text()))
    assert documented == {type_of(type(e).__name__) for e in EXAMPLES}


class TestPaging:
    @pytest.fixture(name="client")
    def _client(self, world: World) -> Iterator[tuple[TestClient, dict[str, str]]]:
        world.open_call()
        for n in range(5):
            world.evaluator(f"eval.{n}")
        world.draft()
        _key, secret = keys.create(
            world.engine.db, actor="corte.conti", role="auditor", now=world.clock.now()
        )
        with TestClient(create_app(world.engine, rate_limit=None)) as client:
            yield client, {"Authorization": f"Bearer {secret}"}

    def _walk(self, client: TestClient, auth: dict[str, str], path: str, key: str) -> list[Any]:
        seen: list[Any] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            answer = client.get(path, params=params, headers=auth)
            page = answer.json()
            assert len(page["items"]) <= 2
            seen += [item[key] for item in page["items"]]
            if page["next"] is None:
                assert "link" not in answer.headers
                return seen
            assert answer.headers["link"].endswith('>; rel="next"')
            assert page["next"] in answer.headers["link"]
            params = {"limit": 2, "cursor": page["next"]}

    def test_a_list_pages_by_cursor(self, client: tuple[TestClient, dict[str, str]]) -> None:
        """Pages of two, following `next`: every evaluator once, by id."""
        test, auth = client
        assert self._walk(test, auth, "/v1/entities/evaluator", "id") == [f"eval.{n}" for n in range(5)]

    def test_a_history_pages_by_cursor(self, client: tuple[TestClient, dict[str, str]], world: World) -> None:
        test, auth = client
        expected = [e.seq for e in world.engine.history("call", CALL_ID)]
        assert self._walk(test, auth, f"/v1/entities/call/{CALL_ID}/history", "seq") == expected

    @pytest.mark.parametrize("cursor", ["garbage!", "eyJsIjoiaGlzdG9yeSIsImEiOjF9", ""])
    def test_a_foreign_cursor_is_invalid_input(
        self, client: tuple[TestClient, dict[str, str]], cursor: str
    ) -> None:
        """Not a cursor, or a history's cursor given to a list: 422 on `cursor`."""
        test, auth = client
        answer = test.get("/v1/entities/evaluator", params={"cursor": cursor}, headers=auth)
        assert (answer.status_code, answer.json()["field"]) == (422, "cursor")

    def test_the_limit_is_bounded(self, client: tuple[TestClient, dict[str, str]]) -> None:
        test, auth = client
        for limit in (0, 501):
            answer = test.get("/v1/entities/evaluator", params={"limit": limit}, headers=auth)
            assert (answer.status_code, answer.json()["field"]) == (422, "limit")


class TestRateLimit:
    def test_a_key_past_its_limit_gets_429_and_others_do_not(self, world: World) -> None:
        """Three per minute: the fourth request waits; another key is unaffected; time refills."""
        now = [1000.0]
        app = create_app(world.engine, rate_limit=RateLimit(3, 60.0))
        app.state.buckets = Buckets(RateLimit(3, 60.0), clock=lambda: now[0])
        first = keys.create(world.engine.db, actor="a", role="auditor", now=world.clock.now())[1]
        other = keys.create(world.engine.db, actor="b", role="auditor", now=world.clock.now())[1]
        with TestClient(app) as client:
            answers = [
                client.get("/v1/whoami", headers={"Authorization": f"Bearer {first}"}) for _ in range(4)
            ]
            assert [a.status_code for a in answers] == [200, 200, 200, 429]
            assert [a.headers["ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
            refused = answers[3]
            assert refused.headers["content-type"] == MEDIA_TYPE
            assert (refused.json()["type"], refused.headers["retry-after"]) == (
                type_of("TooManyRequests"),
                "20",
            )
            assert client.get("/v1/whoami", headers={"Authorization": f"Bearer {other}"}).status_code == 200
            now[0] += 20
            assert client.get("/v1/whoami", headers={"Authorization": f"Bearer {first}"}).status_code == 200

    @pytest.mark.parametrize(("text", "expected"), [("600/60", RateLimit(600, 60.0)), ("off", None)])
    def test_the_setting(self, text: str, expected: RateLimit | None) -> None:
        assert RateLimit.parse(text) == expected

    @pytest.mark.parametrize("text", ["fast", "10", "0/60", "10/0", "-1/60"])
    def test_a_wrong_setting_is_a_configuration_error(self, text: str) -> None:
        with pytest.raises(errors.ConfigurationError):
            RateLimit.parse(text)


class TestDocsPages:
    def test_the_docs_pages_use_the_packaged_assets(self, world: World) -> None:
        """/docs and /redoc load their scripts from the API itself, never from a CDN."""
        with TestClient(create_app(world.engine, rate_limit=None)) as client:
            for page in ("/docs", "/redoc"):
                html = client.get(page).text
                sources = re.findall(r'(?:src|href)="([^"]+)"', html)
                assert sources
                assert all(s.startswith("/docs-static/") for s in sources), sources
                for source in sources:
                    assert client.get(source).status_code == 200, source
            document = client.get("/openapi.json").json()
        assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
        for path, operations in document["paths"].items():
            for operation in operations.values():
                open_ = path in ("/health", "/status")
                assert ("security" not in operation) == open_, path
                assert open_ or operation["security"] == [{"apiKey": []}], path

    def test_status_answers_when_the_database_does(self, world: World) -> None:
        with TestClient(create_app(world.engine, rate_limit=None)) as client:
            assert client.get("/status").json() == {"status": 200, "title": "OK"}
