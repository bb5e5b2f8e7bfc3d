"""Evaluation criteria by act: which criteria and threshold judge a proposal.

A call's criteria change by act (DGR XI/5899/2022, then DGR 1586/2023 and DGR
5377/2025 for the Manifestazione), and a proposal is judged under the criteria
in force when it was **submitted**, not when the evaluator gets to it: an
applicant prepares the proposal against the criteria published then. The call's
data keeps every version (``criteria_versions``, numbered from 1, each with its
act and the UTC instant it takes effect; the first has none); a call stored
before versions existed has one implicit version, its ``evaluation`` block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.timeutil import from_json, local_to_utc, to_json


def reachable(criteria: Sequence[Any], threshold: int) -> None:
    """Raise ValueError if criterion names repeat or the threshold exceeds the maximum score."""
    names = [c.name for c in criteria]
    if len(set(names)) != len(names):
        raise ValueError("criterion names must be unique")
    total = sum(c.max for c in criteria)
    if threshold > total:
        raise ValueError(f"threshold {threshold} exceeds the maximum score {total}")


def normalise_versions(config: Mapping[str, Any], tz: ZoneInfo) -> list[dict[str, Any]]:
    """Every criteria version of a call's configuration, in force from its UTC ``effective_at``."""
    evaluation = config["evaluation"]
    first = {
        "number": 1,
        "act": evaluation.get("act") or config["act"],
        "effective_at": None,
        "criteria": evaluation["criteria"],
        "threshold": evaluation["threshold"],
    }
    later = [
        {
            "number": index + 2,
            "act": version["act"],
            "effective_at": to_json(local_to_utc(version["effective_at"], tz)),
            "criteria": version["criteria"],
            "threshold": evaluation["threshold"]
            if version.get("threshold") is None
            else version["threshold"],
        }
        for index, version in enumerate(evaluation.get("versions", []))
    ]
    return [first, *later]


def in_force(call: Mapping[str, Any], moment: datetime) -> dict[str, Any]:
    """The criteria version in force at ``moment``: the last that took effect by then."""
    versions = call.get("criteria_versions") or [
        {
            "number": 1,
            "act": call["evaluation"].get("act") or call["act"],
            "effective_at": None,
            "criteria": call["evaluation"]["criteria"],
            "threshold": call["evaluation"]["threshold"],
        }
    ]
    chosen = versions[0]
    for version in versions[1:]:
        if from_json(version["effective_at"]) <= moment:
            chosen = version
    return dict(chosen)


def for_proposal(call: Mapping[str, Any], proposal: Mapping[str, Any]) -> dict[str, Any]:
    """The version that judges ``proposal``: the one in force when it was submitted."""
    return in_force(call, from_json(proposal["submitted_at"]))


def label(version: Mapping[str, Any]) -> dict[str, Any]:
    """What an evaluation event records of the version it used."""
    return {
        "number": version["number"],
        "act": version["act"],
        "effective_at": version["effective_at"],
        "threshold": version["threshold"],
    }
