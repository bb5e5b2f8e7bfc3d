"""The rules replay judges by, each proven by its version hash before it is trusted.

Every event records the version of the machine definition it was fired under,
and that version is a hash of the definition's content
(:func:`states.definition.content_version`); the event's own hash covers the
version. So a definition is the one the events name exactly when its content
hashes to that version, wherever it comes from: an export's manifest, the
``definition`` table, or the definitions this Filiere ships. A definition that
does not hash to its version was edited: it is reported as such and not used,
and its events are judged by the genuine definition if one is at hand, never
called illegal because the evidence beside them was altered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workflow.audit.replay import Problem, ReplayResult

#: What a replay without a manifest reports when some events' rules are unknown.
NO_MANIFEST = "no manifest: definitions unknown"


@dataclass
class Rules:
    """The proven definitions, by version, and what was wrong with those offered.

    Attributes:
        definitions: every definition that hashes to its version: the ones
            offered and, for versions not offered genuine, the shipped ones.
        problems: offered definitions that do not hash to their version.
        source: where the offered definitions came from, for the report
            (``None``: none were offered, the export has no manifest).
    """

    definitions: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    source: str | None = "the manifest"

    def conclude(self, result: ReplayResult) -> ReplayResult:
        """Add to ``result`` the tampered definitions and the versions no proven rule covered."""
        result.definitions.extend(self.problems)
        if not result.unknown:
            return result
        if self.source is None:
            versions = ", ".join(sorted(result.unknown))
            result.definitions.append(
                Problem(
                    None,
                    "manifest",
                    "definitions",
                    sorted(result.unknown),
                    None,
                    f"{NO_MANIFEST}: {result.unjudged} events name versions {versions}, which this Filiere"
                    " does not ship; they were not judged (replay the export with its manifest)",
                )
            )
            return result
        for version, (count, first) in sorted(result.unknown.items()):
            if any(p.expected == version for p in self.problems):
                continue  # already reported as tampered: its events are not judged
            result.definitions.append(
                Problem(
                    first,
                    f"definition {version}",
                    "definition",
                    version,
                    None,
                    f"{count} events name it (first: event {first}) but {self.source} does not carry it"
                    " (nor does this Filiere): they were not judged",
                )
            )
        return result


def shipped() -> dict[str, Mapping[str, Any]]:
    """The definitions this Filiere ships, by version."""
    from states import DEFINITIONS

    return {d.version: d.content() for d in DEFINITIONS.values()}


def proven(offered: Mapping[str, Any] | None, source: str = "the manifest") -> Rules:
    """Check each offered definition against its version; fill the gaps with shipped ones that match.

    Args:
        offered: definitions by version (a manifest's, the ``definition``
            table's), or ``None`` when there are none (an export copied
            without its manifest).
        source: how to name where they came from in a report.
    """
    from states.definition import content_version

    rules = Rules(source=source if offered is not None else None)
    if offered is not None and not isinstance(offered, Mapping):
        reason = f"{source} carries no table of definitions by version: tampered"
        rules.problems.append(Problem(None, "manifest", "definitions", None, None, reason))
        offered = None
    for version, content in (offered or {}).items():
        actual = _version_of(content, content_version)
        if actual == version:
            rules.definitions[version] = content
            continue
        rules.problems.append(
            Problem(
                None,
                f"definition {version}",
                "definition",
                version,
                actual,
                f"{source} carries a definition that does not hash to its version"
                f" (it hashes to {actual}): tampered, not used",
            )
        )
    for version, content in shipped().items():
        rules.definitions.setdefault(version, content)
    return rules


def _version_of(content: Any, content_version: Any) -> str | None:
    """The version ``content`` hashes to, or ``None`` if it is not a definition at all."""
    if not isinstance(content, Mapping):
        return None
    try:
        return str(content_version(content))
    except (TypeError, ValueError, RecursionError):
        return None
