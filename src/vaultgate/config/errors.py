"""The one error of the configuration.

    ValueError
    └── ConfigError   a setting (or the file holding it) vaultgate cannot use; one line naming where

pydantic's ``ValidationError`` never leaves this package: ``Settings`` turns it into a
``ConfigError`` whose ``problems`` say which setting is wrong and how, and ``config.loading``
words them again with the file key, the variable or the flag each value came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One refused value: the setting, and what is wrong (with the value, unless it is a secret)."""

    setting: str
    text: str


class ConfigError(ValueError):
    """A setting has a value vaultgate cannot use; the message names the setting and where it was set."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)
