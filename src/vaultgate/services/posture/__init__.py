"""The posture report behind ``vaultgate doctor``: checks of a running installation against the guide.

One module per group of checks; each check yields :class:`finding.Finding` values (and the
:class:`finding.Fact` values the legacy ``doctor --json`` keys come from); :mod:`runner` runs
them all, so that one check that fails becomes a finding instead of ending the report.
"""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "admin_access",
    "break_glass",
    "finding",
    "html_report",
    "inspection",
    "installation",
    "key_hygiene",
    "provider_hygiene",
    "reachability",
    "runner",
    "shared_keys",
]
