"""Local times of a call are read in the call's own zone; a DST gap and a DST fold are told apart.

Before, ``extend`` read its time in Europe/Rome whatever zone the call file declared, and a
time in the spring gap was called "ambiguous (the clocks go back)".
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from handlers.callconfig import CallConfig
from handlers.payloads import validate
from handlers.timeutil import local_to_utc
from tests.factories import CALL_ID, World, call_config
from workflow.errors import GuardRefused, InvalidInput

NEW_YORK = ZoneInfo("America/New_York")
ROME = ZoneInfo("Europe/Rome")


def new_york_call(world: World) -> None:
    """The 2022 call, declared in New York time (03:00 there is 09:00 in Rome)."""
    config = call_config(
        timezone="America/New_York",
        opens_at="2022-03-01T03:00",
        deadline={"at": "2022-12-31T16:00", "act": "avviso", "extensions": []},
    )
    world.open_call(config)


def extend(world: World, at: str) -> object:
    return world.engine.fire(
        "call", CALL_ID, "extend", actor="dir.verdi", role="director", payload={"at": at, "act": "DGR n. 7"}
    )


def last_seq(world: World) -> int:
    return max(e.seq for e in world.engine.events())


class TestLocalToUtc:
    @pytest.mark.parametrize(
        ("text", "tz"),
        [("2023-03-26T02:30", ROME), ("2023-03-12T02:30", NEW_YORK), ("2023-03-26T02:00", ROME)],
    )
    def test_spring_gap(self, text: str, tz: ZoneInfo) -> None:
        """A time the clocks skip does not exist; it is not called ambiguous."""
        with pytest.raises(ValueError, match="does not exist") as caught:
            local_to_utc(text, tz)
        assert "clocks go forward" in str(caught.value)
        assert "ambiguous" not in str(caught.value)

    @pytest.mark.parametrize(
        ("text", "tz"),
        [("2023-10-29T02:30", ROME), ("2023-11-05T01:30", NEW_YORK), ("2023-10-29T02:00", ROME)],
    )
    def test_autumn_fold(self, text: str, tz: ZoneInfo) -> None:
        """A time the clocks pass twice is ambiguous."""
        with pytest.raises(ValueError, match="is ambiguous") as caught:
            local_to_utc(text, tz)
        assert "clocks go back" in str(caught.value)

    def test_the_minutes_around_the_changes_exist(self) -> None:
        """01:59 and 03:00 on the spring night, 01:59 and 03:00 on the autumn night: one instant each."""
        assert local_to_utc("2023-03-26T01:59", ROME).isoformat() == "2023-03-26T00:59:00+00:00"
        assert local_to_utc("2023-03-26T03:00", ROME).isoformat() == "2023-03-26T01:00:00+00:00"
        assert local_to_utc("2023-10-29T01:59", ROME).isoformat() == "2023-10-28T23:59:00+00:00"
        assert local_to_utc("2023-10-29T03:00", ROME).isoformat() == "2023-10-29T02:00:00+00:00"

    def test_call_file_names_the_field(self) -> None:
        """A call file with its deadline in the gap is refused naming the field and the gap."""
        from handlers.base import InvalidPayload

        with pytest.raises(InvalidPayload) as caught:
            validate(CallConfig, call_config(deadline={"at": "2023-03-26T02:30", "act": "avviso"}))
        assert caught.value.field == "deadline.at"
        assert "does not exist in Europe/Rome" in caught.value.reason


class TestExtendInTheCallsZone:
    def test_new_york_call(self, contract_world: World) -> None:
        """16:00 in a New York call's act is 20:00 UTC in spring, not 14:00 (Rome)."""
        world = contract_world
        new_york_call(world)
        event = extend(world, "2023-03-31T16:00")
        assert event.payload["effects"]["deadline"]["at"] == "2023-03-31T20:00:00Z"  # type: ignore[attr-defined]

    def test_rome_gap_exists_in_new_york(self, world: World) -> None:
        """02:30 on 26 March 2023 is skipped in Rome but exists in New York (already summer time)."""
        new_york_call(world)
        event = extend(world, "2023-03-26T02:30")
        assert event.payload["effects"]["deadline"]["at"] == "2023-03-26T06:30:00Z"  # type: ignore[attr-defined]

    def test_new_york_gap(self, contract_world: World) -> None:
        """02:30 on 12 March 2023 does not exist in New York: invalid input, nothing written."""
        world = contract_world
        new_york_call(world)
        before = last_seq(world)
        with pytest.raises(InvalidInput) as caught:
            extend(world, "2023-03-12T02:30")
        assert caught.value.field == "at"
        assert "does not exist in America/New_York" in caught.value.reason
        assert "clocks go forward" in caught.value.reason
        assert last_seq(world) == before

    def test_new_york_fold(self, world: World) -> None:
        """01:30 on 5 November 2023 happens twice in New York: ambiguous, nothing written."""
        new_york_call(world)
        before = last_seq(world)
        with pytest.raises(InvalidInput) as caught:
            extend(world, "2023-11-05T01:30")
        assert "is ambiguous in America/New_York" in caught.value.reason
        assert "clocks go back" in caught.value.reason
        assert last_seq(world) == before

    def test_rome_gap_and_fold(self, world: World) -> None:
        """In a Rome call the spring gap and the autumn fold each get their own message."""
        world.open_call()
        with pytest.raises(InvalidInput, match=r"does not exist in Europe/Rome.*go forward"):
            extend(world, "2028-03-26T02:30")
        with pytest.raises(InvalidInput, match=r"is ambiguous in Europe/Rome.*go back"):
            extend(world, "2028-10-29T02:30")

    def test_refusals_speak_the_calls_zone(self, world: World) -> None:
        """An extension to an earlier deadline is refused with times in the call's zone."""
        new_york_call(world)
        with pytest.raises(GuardRefused) as caught:
            extend(world, "2022-12-30T16:00")
        assert caught.value.guard == "extension_later"
        assert caught.value.reason == (
            "the new deadline 2022-12-30 16:00:00 America/New_York is not after the deadline in force "
            "2022-12-31 16:00:00 America/New_York"
        )


@pytest.mark.parametrize("at", ["0001-01-01T00:30", "9999-12-31T23:59", "2023-02-30T12:00"])
def test_times_off_the_calendar(world: World, at: str) -> None:
    """A time the zone's offset pushes past year 1 or 9999, or no date at all: invalid input."""
    if at.startswith("9999"):
        new_york_call(world)  # 23:59 in New York is already year 10000 in UTC
    else:
        world.open_call()
    before = last_seq(world)
    with pytest.raises(InvalidInput) as caught:
        extend(world, at)
    assert caught.value.field == "at"
    assert last_seq(world) == before
