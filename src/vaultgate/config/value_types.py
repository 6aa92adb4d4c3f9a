"""The kinds of value a setting takes, and how each is read from text, TOML or Python.

Environment variables arrive as strings, the TOML file's values typed, flags and direct
construction as Python values; each kind accepts all three but never guesses. A TOML ``true``
is not the number 1, ``8080.5`` (or the string ``"8080.0"``) is not a port, and a misspelt
switch is not "off": pydantic's lax mode would accept all of these, so each kind checks its
input first. Ranges are pydantic constraints; ``config.messages`` words the refusals.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")

# The words an on/off setting takes (any case); anything else is refused, never read as off.
SWITCH_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def _whole_number(value: Any) -> Any:
    # bool is an int in Python and 8080.0 == 8080: both would pass pydantic's lax int.
    if isinstance(value, bool | float) or (isinstance(value, str) and not _WHOLE_NUMBER.fullmatch(value.strip())):
        raise PydanticCustomError("whole_number", "must be a whole number")
    return int(value.strip()) if isinstance(value, str) else value


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("number", "must be a number")
    if isinstance(value, str):
        try:
            return float(value.strip())  # "inf" and "nan" parse; the model refuses them (allow_inf_nan)
        except ValueError:
            raise PydanticCustomError("number", "must be a number") from None
    return value


def _switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    parsed = SWITCH_WORDS.get(value.strip().lower()) if isinstance(value, str) else None
    if parsed is None:
        raise PydanticCustomError("switch", "use true or false")
    return parsed


def _not_blank(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    return value


def _blank_is_unset(value: Any) -> Any:
    # `redis_url = ""` in the file means what an empty VAULTGATE_REDIS_URL means: not set.
    return None if isinstance(value, str) and not value.strip() else value


def one_of(words: tuple[str, ...]) -> Callable[[Any], Any]:
    """A check that a value is one of ``words`` (any case, surrounding blanks ignored)."""

    def check(value: Any) -> Any:
        word = value.strip().lower() if isinstance(value, str) else value
        if not isinstance(word, str) or word not in words:
            raise PydanticCustomError("choice", "use one of {choices}", {"choices": ", ".join(words)})
        return word

    return check


# Seconds for a timeout or an interval: zero would burn a core (a loop that never sleeps) or end everything at once.
Seconds = Annotated[float, BeforeValidator(_number), Field(gt=0)]
# Seconds where zero means "none" (no retry budget, no backoff).
SecondsOrZero = Annotated[float, BeforeValidator(_number), Field(ge=0)]
# A count or a size in bytes that must allow at least one.
Count = Annotated[int, BeforeValidator(_whole_number), Field(gt=0)]
# A count where zero means "no limit".
CountOrZero = Annotated[int, BeforeValidator(_whole_number), Field(ge=0)]
Port = Annotated[int, BeforeValidator(_whole_number), Field(ge=1, le=65535)]
Switch = Annotated[bool, BeforeValidator(_switch)]
Text = Annotated[str, BeforeValidator(_not_blank)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_is_unset)]
Directory = Annotated[Path, BeforeValidator(_not_blank)]
OptionalPath = Annotated[Path | None, BeforeValidator(_blank_is_unset)]


LogLevelName = Literal["debug", "info", "warning", "error", "critical"]
LogFormatName = Literal["text", "json"]


def _url_scheme(*schemes: str) -> AfterValidator:
    """A check that a URL (when set) starts with one of ``schemes`` (a ``+driver`` suffix is allowed)."""

    def check(url: str | None) -> str | None:
        try:
            scheme = urlsplit(url).scheme.split("+")[0].lower() if url is not None else None
        except ValueError:  # an unbalanced [ in the host
            scheme = ""
        if scheme is not None and scheme not in schemes:
            names = [f"{s}://" for s in schemes]
            raise PydanticCustomError(
                "scheme", "use a {schemes} URL", {"schemes": ", ".join(names[:-1]) + " or " + names[-1]}
            )
        return url

    return AfterValidator(check)


def _networks(text: str) -> str:
    # The gateway parses these again (server.trusted_proxies); checked here so `config check` sees a typo.
    for part in text.split(","):
        try:
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)
        except ValueError:
            raise PydanticCustomError(
                "network",
                "use IP addresses or CIDRs separated by commas ({part} is neither)",
                {"part": repr(part.strip())},
            ) from None
    return text


def _domains(text: str) -> str:
    # Email domains a console sign-in may come from (docs/IDENTITY.md); checked here so `config check` sees a typo.
    for part in text.split(","):
        name = part.strip().lower()
        if name and not re.fullmatch(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", name):
            raise PydanticCustomError(
                "domain", "use domain names separated by commas ({part} is not one)", {"part": repr(part.strip())}
            )
    return text


DatabaseURL = Annotated[OptionalText, _url_scheme("postgresql", "postgres", "sqlite")]
RedisURL = Annotated[OptionalText, _url_scheme("redis", "rediss", "unix")]
LogLevel = Annotated[LogLevelName, BeforeValidator(one_of(get_args(LogLevelName)))]
LogFormat = Annotated[LogFormatName, BeforeValidator(one_of(get_args(LogFormatName)))]
Networks = Annotated[str, AfterValidator(_networks)]
HttpURL = Annotated[OptionalText, _url_scheme("https", "http")]
Domains = Annotated[str, AfterValidator(_domains)]
