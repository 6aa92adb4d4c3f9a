"""Scanner errors, translated to exit code 2 and a one-line reason by the CLI.

ScanError
├── ScanUsageError   bad arguments or input files (a missing path, a corrupt baseline)
├── GitError         git is missing, the path is not a repository, or git failed
├── RemoteError      the admin API (--revoke) or the models endpoint (--verify) failed
└── FormatError      one file cannot be scanned (too large, binary, not its format): --home skips it
"""

from __future__ import annotations


class ScanError(Exception):
    """Base class: the scan could not be carried out as asked."""


class ScanUsageError(ScanError):
    """The arguments or an input file cannot be used."""


class GitError(ScanError):
    """A git command failed or git is not available."""


class RemoteError(ScanError):
    """An HTTP call to the admin API or to the models endpoint failed."""


class FormatError(ScanError):
    """One file cannot be scanned: too large, binary, or not in its place's format (not an IPython database)."""
