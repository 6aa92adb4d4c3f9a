"""One line for a refused configuration: where each bad value was set, what is wrong, what it was.

``vaultgate.toml (/etc/vaultgate/vaultgate.toml): log_level: use one of debug, info, ..., not 'loud'``
or ``VAULTGATE_PORT: must be at most 65535, not '70000'``. Secrets are never repeated and
passwords inside URLs are masked, as in ``vaultgate config check``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from vaultgate.config.errors import Problem

MASK = "***"
# Settings kept out of repr (Field(repr=False)): their values are never printed, masked or not.
SECRET_SETTINGS = frozenset({"master_key", "metrics_token"})
# URLs that may carry a password (in the user part, or libpq's ?password=).
CREDENTIAL_URLS = frozenset({"database_url", "redis_url"})
# A webhook URL is itself the credential (Slack, Teams ...): only its scheme and host are shown.
SECRET_PATH_URLS = frozenset({"webhook_url"})

# pydantic's own error types, in vaultgate's words; {name} is filled from the error's context.
_WORDING = {
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "finite_number": "must be a finite number",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "string_type": "must be a string",
    "path_type": "must be a path (a string)",
    "extra_forbidden": "unknown setting",
}


def masked_url(url: str, *, keep_path: bool = True) -> str:
    """``url`` with its password (user part and ``?password=``) masked, or all but scheme and host masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # not parseable: it could be anything, a password included
    if "://" not in url:
        return MASK  # not a URL: perhaps a libpq "host=... password=..." string
    userinfo, at, host = parts.netloc.rpartition("@")
    if not keep_path:
        return urlunsplit((parts.scheme, host, MASK if parts.path.strip("/") or parts.query else "", "", ""))
    netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}" if at and ":" in userinfo else parts.netloc
    pairs = parts.query.split("&") if parts.query else []
    query = "&".join(f"{p.split('=', 1)[0]}={MASK}" if "password" in p.split("=", 1)[0].lower() else p for p in pairs)
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing to mask: exactly as given
    # Not urlunsplit: it drops the "//" of schemes it does not know when the host is empty (unix:///path).
    return (
        f"{parts.scheme}://{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


def shown(name: str, value: Any) -> Any:
    """A setting's value as it may be printed: secrets masked (``None`` stays ``None``)."""
    if value is None:
        return None
    if name in SECRET_SETTINGS:
        return MASK
    if name in CREDENTIAL_URLS | SECRET_PATH_URLS and isinstance(value, str):
        return masked_url(value, keep_path=name not in SECRET_PATH_URLS)
    return value


def unknown_setting(name: str, known: Collection[str]) -> str:
    """What is wrong with a key that names no setting, with the nearest setting's name when one is close."""
    close = difflib.get_close_matches(name, known, n=1)
    return "unknown setting" + (f" (did you mean {close[0]}?)" if close else "")


def _problem(error: ErrorDetails, known: Collection[str], name: str) -> str:
    if error["type"] == "extra_forbidden":
        return unknown_setting(name, known)
    wording = _WORDING.get(error["type"])
    if wording is None:
        return error["msg"].removeprefix("Value error, ")
    return wording.format(**error.get("ctx", {}))


def problems(exc: ValidationError, known: Collection[str]) -> tuple[Problem, ...]:
    """Each refused value of ``exc``: its setting, and what is wrong with it (never a secret's value)."""
    found = []
    for error in exc.errors():
        # A check across settings (model validator) has no location: it names its setting in its context.
        name = str(error["loc"][0]) if error["loc"] else str(error.get("ctx", {}).get("setting", ""))
        text = _problem(error, known, name)
        if error["loc"] and error["type"] != "extra_forbidden" and name not in SECRET_SETTINGS:
            text += f", not {shown(name, error['input'])!r}"
        found.append(Problem(name, text))
    return tuple(found)


def render(found: Sequence[Problem], where: Callable[[str], str]) -> str:
    """One line naming each setting by ``where(setting)``: the file key, the variable or the flag."""
    return "; ".join(f"{where(p.setting)}: {p.text}" for p in found)
