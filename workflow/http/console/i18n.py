"""The console's languages: Italian by default, English on request, every label from a catalogue.

Catalogues are Babel ``.po`` files under ``locale/`` read at start-up (no
compiled ``.mo`` to keep in step). Message ids are English; the Italian
catalogue must translate every one of them (a test checks the templates).
Amounts and dates are formatted for the language (``1.234,56 €`` in Italian),
times in Europe/Rome to the second.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

LANGUAGES = ("it", "en")
DEFAULT = "it"
ROME = ZoneInfo("Europe/Rome")
_LOCALE = Path(__file__).parent / "locale"
_BABEL_LOCALES = {"it": "it_IT", "en": "en_GB"}


class Catalogue(NullTranslations):
    """One language's messages; an id with no translation is shown as it is (English)."""

    def __init__(self, messages: dict[str, str]) -> None:
        super().__init__()
        self.messages = messages

    def gettext(self, message: str) -> str:
        """The translation of ``message``."""
        return self.messages.get(message, message)


@cache
def translations(language: str) -> Catalogue:
    """The catalogue of ``language`` (``it`` or ``en``), read once."""
    path = _LOCALE / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    return Catalogue({str(m.id): str(m.string) for m in catalog if m.id and m.string})


def chosen(value: str | None) -> str:
    """A supported language, or the default."""
    return value if value in LANGUAGES else DEFAULT


class Formatter:
    """Formats for one language: money, numbers and times for people."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.locale = _BABEL_LOCALES[language]

    def money(self, value: Any) -> str:
        """An amount in euro, to the cent (``1.234,56 €``)."""
        if value is None or str(value) == "":  # missing (a template's undefined reads as "")
            return "-"
        return str(format_currency(Decimal(str(value)), "EUR", locale=self.locale))

    def number(self, value: Any) -> str:
        """A number with the language's separators."""
        if value is None or str(value) == "":
            return "-"
        return str(format_decimal(Decimal(str(value)), locale=self.locale))

    def moment(self, value: datetime | str | None) -> str:
        """A time in Europe/Rome to the second (``31/12/2022 16:00:00``)."""
        if not isinstance(value, datetime | str) or value == "":
            return "-"
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        local = value.astimezone(ROME)
        pattern = "%d/%m/%Y %H:%M:%S" if self.language == "it" else "%Y-%m-%d %H:%M:%S"
        return local.strftime(pattern)
