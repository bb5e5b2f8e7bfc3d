"""Call files: the shipped one loads; bad ones are configuration errors naming the field."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handlers.call import deadline_in_force
from handlers.callconfig import normalise
from workflow.config import example_call_path, read_call_file
from workflow.errors import ConfigurationError

SHIPPED = example_call_path("manifestazione-2022").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "call.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        read_call_file(write(tmp_path, text))
    return caught.value


class TestShipped:
    def test_loads(self) -> None:
        """The 2022 manifestazione loads, with five areas and the 10-company rule."""
        config = read_call_file(example_call_path("manifestazione-2022"))
        assert config["code"] == "MI-FILIERE-2022"
        assert sorted(config["areas"]) == ["a", "b", "c", "d", "e"]
        assert config["composition"]["min_companies_in_lombardy"] == 10

    def test_deadlines_in_utc(self) -> None:
        """16:00 in Rome on 31 December is 15:00 UTC; each extension keeps its act and adoption."""
        versions = normalise(read_call_file(example_call_path("manifestazione-2022")))["deadlines"]
        assert [v["at"] for v in versions] == [
            "2022-12-31T15:00:00Z",
            "2023-12-31T15:00:00Z",
            "2025-12-31T15:00:00Z",
            "2027-12-31T15:00:00Z",
        ]
        assert versions[0]["adopted_at"] is None
        assert versions[3]["act"] == "DGR n. 5377 del 24/11/2025"

    def test_deadline_in_force(self) -> None:
        """The deadline in force is the last one adopted by then."""
        call = normalise(read_call_file(example_call_path("manifestazione-2022")))
        at = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
        assert deadline_in_force(call, at(2022, 11, 29))["at"] == "2022-12-31T15:00:00Z"
        assert deadline_in_force(call, at(2022, 12, 1))["at"] == "2023-12-31T15:00:00Z"
        assert deadline_in_force(call, at(2024, 6, 1))["at"] == "2025-12-31T15:00:00Z"
        assert deadline_in_force(call, at(2025, 12, 1))["at"] == "2027-12-31T15:00:00Z"
        assert deadline_in_force(call, at(2030, 1, 1))["at"] == "2027-12-31T15:00:00Z"


class TestErrors:
    @pytest.mark.parametrize(
        ("old", "new", "field"),
        [
            ('at = "2022-12-31T16:00"', 'at = "2023-03-26T02:30"', "deadline.at"),
            ('at = "2022-12-31T16:00"', 'at = "2023-10-29T02:30"', "deadline.at"),
            ('opens_at = "2022-03-01T09:00"', 'opens_at = "2022-03-27T02:15"', "opens_at"),
            (
                'adopted_at = "2023-12-18T12:00"',
                'adopted_at = "2024-03-31T02:00"',
                "deadline.extensions.1.adopted_at",
            ),
        ],
        ids=["gap", "fold", "opening-gap", "adoption-gap"],
    )
    def test_dst_times_refused(self, tmp_path: Path, old: str, new: str, field: str) -> None:
        """A local time that does not exist or happens twice is a configuration error naming the field."""
        error = config_error(tmp_path, SHIPPED.replace(old, new, 1))
        assert error.field == field
        assert "Europe/Rome" in error.reason

    def test_unknown_field(self, tmp_path: Path) -> None:
        """An unknown field is refused by name (a typo is not silently ignored)."""
        error = config_error(tmp_path, SHIPPED.replace("min_areas = 1", "min_area = 1"))
        assert error.field == "min_area"

    def test_threshold_above_maximum(self, tmp_path: Path) -> None:
        """A threshold no proposal can reach is refused."""
        error = config_error(tmp_path, SHIPPED.replace("threshold = 60", "threshold = 101"))
        assert error.field == "evaluation"
        assert "exceeds the maximum score 100" in error.reason

    def test_extension_must_move_later(self, tmp_path: Path) -> None:
        """An extension that does not move the deadline later is refused."""
        error = config_error(tmp_path, SHIPPED.replace('at = "2025-12-31T16:00"', 'at = "2023-06-30T16:00"'))
        assert (error.field, error.reason) == ("deadline.extensions.1.at", "must move the deadline later")

    def test_deadline_after_opening(self, tmp_path: Path) -> None:
        """The deadline must come after the opening."""
        error = config_error(
            tmp_path, SHIPPED.replace('opens_at = "2022-03-01T09:00"', 'opens_at = "2023-03-01T09:00"')
        )
        assert error.field == "deadline.at"

    def test_missing_file_and_bad_toml(self, tmp_path: Path) -> None:
        """A missing file or broken TOML is a configuration error too."""
        with pytest.raises(ConfigurationError, match="not found"):
            read_call_file(tmp_path / "nope.toml")
        error = config_error(tmp_path, "code = ")
        assert error.field == "file"

    def test_allowed_scores_within_max(self, tmp_path: Path) -> None:
        """Allowed scores must lie within the criterion's range."""
        error = config_error(tmp_path, SHIPPED.replace("allowed = [0, 10, 20, 30]", "allowed = [0, 10, 40]"))
        assert error.field.startswith("evaluation.criteria.1")

    def test_shipped_file_is_toml(self) -> None:
        """The shipped file parses as plain TOML (editable by any tool)."""
        assert tomllib.loads(SHIPPED)["timezone"] == "Europe/Rome"
