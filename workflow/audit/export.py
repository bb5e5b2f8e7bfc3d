"""Exporting the event log for auditors, and verifying an export without the database.

``export_events`` streams every event, in order, as one canonical JSON line
(the hashed fields plus the hash: exactly the bytes the chain covers, plus the
hash), in constant memory, and writes a manifest beside it with the count, the
head and every machine definition the events name, so that the file alone is
enough to verify and to replay.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from workflow.audit.stored import canonical_events, stored_definitions
from workflow.audit.verify import ChainChecker, ChainReport, entities_from
from workflow.canonical import HASHED_FIELDS

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: Version 2: sealed events only, each with its ``position``; the manifest names the tree.
FORMAT = "filiere-events/2"
#: Version 1 files (one global chain, no positions) still verify.
LEGACY_FORMAT = "filiere-events/1"


def manifest_path(path: str | Path) -> Path:
    """Where the manifest of an export lives."""
    return Path(f"{path}.manifest.json")


def export_events(
    db: Engine, out: str | Path, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Write every sealed event to ``out`` (JSON lines) and its manifest; return the manifest."""
    from workflow.store.db import reading

    with reading(db) as connection:
        boundary = entities_from(connection)
    checker = ChainChecker(entities_from=boundary)  # the tree's root at the end, for the manifest
    with Path(out).open("wb") as handle:
        for event in canonical_events(db, sealed_only=True):
            handle.write(orjson.dumps(event, option=orjson.OPT_SORT_KEYS) + b"\n")
            checker.check(event)
            if progress is not None:
                progress(1)
    tree = {"entity_chains_from": boundary, "tree_size": checker.size, "root": checker.root()}
    head = (checker.last_seq, checker.last_hash)
    return write_manifest(out, checker.count, head, stored_definitions(db), tree)


def write_manifest(
    out: str | Path,
    count: int,
    head: tuple[int, str],
    definitions: dict[str, Any],
    tree: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the manifest beside the export ``out``; return it (``tree``: format 2's tree facts)."""
    manifest = {
        "format": FORMAT if tree is not None else LEGACY_FORMAT,
        "events": count,
        "head_seq": head[0],
        "head_hash": head[1],
        "exported_at": datetime.now(UTC).isoformat(),
        "definitions": definitions,
        **(tree or {}),
    }
    manifest_path(out).write_bytes(orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
    return manifest


def read_events(path: str | Path) -> Iterator[dict[str, Any]]:
    """The events of an export, one at a time."""
    with Path(path).open("rb") as handle:
        for line in handle:
            if line.strip():
                yield orjson.loads(line)


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """The manifest beside an export, if there is one.

    Raises:
        InvalidInput: the file is there but is not a manifest (not a JSON
            object with the head): a damaged manifest is said, not guessed.
    """
    from workflow.errors import InvalidInput

    where = manifest_path(path)
    if not where.exists():
        return None
    try:
        manifest = orjson.loads(where.read_bytes())
    except orjson.JSONDecodeError:
        raise InvalidInput("manifest", f"{where} is not JSON") from None
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("head_seq"), int)
        or not isinstance(manifest.get("head_hash"), str)
    ):
        raise InvalidInput("manifest", f"{where} is not a manifest (no head_seq and head_hash)")
    return manifest


def verify_file(
    path: str | Path,
    *,
    head_hash: str | None = None,
    head_seq: int | None = None,
    workers: int | None = None,
    kept_roots: dict[int, str] | None = None,
) -> ChainReport:
    """Verify an exported chain; the manifest's head (or ``head_hash``) catches a cut tail.

    Each line must be the canonical JSON of its event (what the export
    writes: sorted keys, no spaces), so that what replay parses is exactly
    what the hash covers; the canonical bytes are then the line less its
    ``hash`` member, hashed as they stand.

    Every line carries the hash it follows, so lines can be checked apart:
    a large file is cut into ``workers`` slices (default: one per CPU, for
    files over 64 MB) checked in parallel processes, and the slices' ends are
    then linked here. The report is the one a single pass would give. Files
    of format 2 (per-entity chains, positions, a tree) are checked in one pass.

    ``head_seq``, the sequence number kept with ``head_hash``, tells a file
    cut before the kept head from one rewritten up to it. A break of order
    (a jump, a prev_hash that does not follow) sends one more pass looking
    for the event that should have come there: found elsewhere, the events
    are out of sequence, not deleted.
    """
    manifest = read_manifest(path)
    if manifest is None and _has_positions(Path(path)):
        return _verify_sealed(Path(path), None, (head_hash, head_seq), kept_roots)
    if (manifest is not None and manifest.get("format") == FORMAT) or kept_roots:
        return _verify_sealed(Path(path), manifest, (head_hash, head_seq), kept_roots)
    size = Path(path).stat().st_size
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if size > PARALLEL_FROM_BYTES else 1
    slices = _slices(Path(path), size, max(1, workers))
    if len(slices) == 1:
        parts = [_check_slice(str(path), *slices[0], (head_hash, head_seq))]
    else:
        with ProcessPoolExecutor(len(slices), mp_context=get_context("spawn")) as pool:
            parts = list(
                pool.map(
                    _check_slice, *zip(*[(str(path), *s, (head_hash, head_seq)) for s in slices], strict=True)
                )
            )
    checker = ChainChecker(head_hash, kept_seq=head_seq, entities_from=_LEGACY)
    for part in parts:
        if checker.broken:
            break
        _join(checker, part)
    if checker.order_break:
        _find_moved(checker, Path(path))
    if (
        manifest
        and not checker.broken
        and (checker.last_seq, checker.last_hash)
        != (
            int(manifest["head_seq"]),
            str(manifest["head_hash"]),
        )
    ):
        checker.fail(
            min(int(manifest["head_seq"]), checker.last_seq + 1),
            f"chain ends at {checker.last_seq} but its recorded head says {manifest['head_seq']}"
            " (tail cut or head altered)",
        )
    return checker.report()


#: A format-1 file is one global chain: no seq is chained per entity.
_LEGACY = 1 << 62


def _has_positions(path: Path) -> bool:
    """Whether an export's first line carries a position (format 2), for a file without its manifest."""
    with path.open("rb") as handle:
        return b',"position":' in handle.readline()


def _verify_sealed(
    path: Path,
    manifest: dict[str, Any] | None,
    kept: tuple[str | None, int | None],
    kept_roots: dict[int, str] | None,
) -> ChainReport:
    legacy = manifest is None or manifest.get("format") != FORMAT
    boundary = None if manifest is None else _LEGACY if legacy else int(manifest.get("entity_chains_from", 1))
    checker = ChainChecker(
        kept[0], kept_seq=kept[1], entities_from=boundary, kept_roots=kept_roots, implied_positions=legacy
    )
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            body = line.rstrip(b"\n")
            if body:
                _check_line(checker, number, body)
            if checker.broken:
                break
    if checker.order_break:
        _find_moved(checker, path)
    tree = (int(manifest["tree_size"]), str(manifest["root"])) if manifest and "root" in manifest else None
    return checker.report(tree)


#: Files smaller than this are checked in one pass: starting processes costs more than it saves.
PARALLEL_FROM_BYTES = 64 * 1024 * 1024


def _slices(path: Path, size: int, count: int) -> list[tuple[int, int, int]]:
    """``count`` byte ranges of whole lines: (start, end, number of the first line)."""
    cuts = [0]
    with path.open("rb") as handle:
        for k in range(1, count):
            handle.seek(max(size * k // count, cuts[-1]))
            handle.readline()  # to the start of the next whole line
            cuts.append(min(handle.tell(), size))
    cuts.append(size)
    ranges, first_line = [], 1
    with path.open("rb") as handle:
        for start, end in itertools.pairwise(cuts):
            if end > start:
                ranges.append((start, end, first_line))
                handle.seek(start)
                first_line += _newlines(handle, end - start)
    return ranges or [(0, 0, 1)]


def _newlines(handle: Any, length: int, block: int = 1 << 22) -> int:
    """How many line ends the next ``length`` bytes hold, read a block at a time."""
    count = 0
    while length > 0:
        chunk = handle.read(min(block, length))
        if not chunk:
            break
        count += chunk.count(b"\n")
        length -= len(chunk)
    return count


def _check_slice(
    path: str, start: int, end: int, first_line: int, kept: tuple[str | None, int | None]
) -> dict[str, Any]:
    """Check the lines in ``[start, end)`` as a chain that starts where its first line says."""
    checker: ChainChecker | None = None
    first: tuple[int, str] | None = None
    with Path(path).open("rb") as handle:
        handle.seek(start)
        number, position = first_line - 1, start
        for line in handle:
            if position >= end:
                break
            position += len(line)
            number += 1
            body = line.rstrip(b"\n")
            if not body:
                continue
            if checker is None:
                first = _claims(body)
                after = (first[0] - 1, first[1]) if first else (-1, "")
                checker = ChainChecker(kept[0], kept_seq=kept[1], after=after, entities_from=_LEGACY)
            _check_line(checker, number, body)
            if checker.broken:
                break
    if checker is None:
        return {"events": 0, "first": None, "problem": None}
    return {
        "events": checker.count,
        "first": first,
        "last": (checker.last_seq, checker.last_hash),
        "kept_at": checker.kept_at,
        "at_kept_seq": checker.at_kept_seq,
        "bad_seq": checker.first_bad_seq,
        "problem": checker.problem,
        "broken_after": checker.broken_after,
        "wanted": checker.wanted,
    }


def _claims(body: bytes) -> tuple[int, str] | None:
    """The seq and prev_hash a line claims, if it can be read at all."""
    try:
        event = orjson.loads(body)
        return int(event["seq"]), str(event["prev_hash"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _join(checker: ChainChecker, part: dict[str, Any]) -> None:
    """Fold one slice's verdict into the whole chain's, checking where it joins the one before."""
    if part.get("first") is None:
        if part.get("problem"):  # its first line could not be read: that is where the chain breaks
            checker.fail(checker.last_seq + 1, str(part["problem"]).split(": ", 1)[1])
        return
    if not checker.linked(*part["first"]):
        return
    checker.count += part["events"]
    checker.last_seq, checker.last_hash = part["last"]
    checker.top_seq = max(checker.top_seq, checker.last_seq)
    checker.at_kept_seq = checker.at_kept_seq or part["at_kept_seq"]
    if part["bad_seq"] is not None:
        checker.fail(part["bad_seq"], str(part["problem"]).split(": ", 1)[1])
        checker.broken_after, checker.wanted = part["broken_after"], part["wanted"]
        return
    if checker.kept_at is None:
        checker.kept_at = part["kept_at"]


def _find_moved(checker: ChainChecker, path: Path) -> None:
    """Look for the event missing at the break anywhere in the file: if genuine, a reordering."""
    assert checker.wanted is not None
    what, value = checker.wanted
    needle = (
        b'"prev_hash":"' + str(value).encode("ascii") + b'"'
        if what == "prev_hash"
        else b'"position":%d,' % value
    )
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if needle not in line:
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if (
                isinstance(event, dict)
                and event.keys() >= _FIELDS
                and checker.reordered(event, f"on line {number}")
            ):
                return


_HASH_MEMBER = b',"hash":"'
_HASH_MEMBER_LENGTH = len(_HASH_MEMBER) + 64 + 1  # the member, 64 hex digits, the closing quote
_POSITION_MEMBER = b',"position":'


def _check_line(checker: ChainChecker, number: int, body: bytes) -> None:
    at = checker.last_seq + 1
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        checker.fail(at, f"line {number} is not JSON")
        return
    if not isinstance(event, dict) or not event.keys() >= _FIELDS:
        checker.fail(at, f"line {number} is not an event (fields missing)")
        return
    cut = body.find(_HASH_MEMBER)
    if cut < 0 or orjson.dumps(event, option=orjson.OPT_SORT_KEYS) != body:
        checker.fail(at, f"line {number} is not in canonical form (altered)")
        return
    hashed = body[:cut] + body[cut + _HASH_MEMBER_LENGTH :]
    if "position" in event:  # not hashed: the tree covers it. After the payload, so found from the right.
        start = hashed.rfind(_POSITION_MEMBER)
        hashed = hashed[:start] + hashed[hashed.index(b",", start + len(_POSITION_MEMBER)) :]
    checker.check(event, hashed)


_FIELDS = frozenset((*HASHED_FIELDS, "hash"))
