"""Reading call files: TOML in, validated configuration or a ConfigurationError out.

The validation itself is the call's ``create`` payload model
(:class:`handlers.callconfig.CallConfig`), so a file that loads is exactly
what the engine accepts; this module only reads files and names them in errors.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from handlers.base import InvalidPayload
from handlers.callconfig import CallConfig
from handlers.measureconfig import MeasureConfig
from handlers.payloads import Payload, validate
from workflow.errors import ConfigurationError

#: The call files shipped with Filiere, by name.
EXAMPLE_CALLS = ("manifestazione-2022",)
#: The measure files shipped with Filiere, by name.
EXAMPLE_MEASURES = (
    "bando-filiere-2022",
    "rafforzamento-filiere-2024",
    "rafforzamento-filiere-2025",
    "ricerca-e-innova-2023",
)


def example_call_path(name: str) -> Path:
    """The path of a shipped call file (``manifestazione-2022``)."""
    if name not in EXAMPLE_CALLS:
        raise ConfigurationError(name, "name", f"no shipped call {name!r} ({', '.join(EXAMPLE_CALLS)})")
    return Path(str(resources.files("workflow") / "examples" / "calls" / f"{name}.toml"))


def example_measure_path(name: str) -> Path:
    """The path of a shipped measure file (``bando-filiere-2022``, ...)."""
    if name not in EXAMPLE_MEASURES:
        raise ConfigurationError(name, "name", f"no shipped measure {name!r} ({', '.join(EXAMPLE_MEASURES)})")
    return Path(str(resources.files("workflow") / "examples" / "measures" / f"{name}.toml"))


def read_call_file(path: str | Path) -> dict[str, Any]:
    """Parse and validate a call file; return the configuration as JSON-ready data.

    Raises:
        ConfigurationError: the file is missing, is not TOML, or a field is wrong.
    """
    return _read(path, CallConfig)


def read_measure_file(path: str | Path) -> dict[str, Any]:
    """Parse and validate a measure file; return the configuration as JSON-ready data.

    Raises:
        ConfigurationError: the file is missing, is not TOML, or a field is wrong.
    """
    return _read(path, MeasureConfig)


def _read(path: str | Path, model: type[Payload]) -> dict[str, Any]:
    source = str(path)
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(source, "file", "not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(source, "file", f"not valid TOML: {exc}") from exc
    try:
        return validate(model, raw)
    except InvalidPayload as exc:
        raise ConfigurationError(source, exc.field, exc.reason) from exc
