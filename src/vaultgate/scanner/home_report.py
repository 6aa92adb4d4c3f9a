"""The ``--home`` report: findings grouped by kind of place, each group with what to do about it.

Only masked secrets appear, as in every other report. The JSON and SARIF forms are the usual
ones (findings carry ``place`` and ``section``); :func:`home_extra` adds the home directory
and the skipped files to the JSON document.
"""

from __future__ import annotations

from vaultgate.scanner.home import HomeScan, Place
from vaultgate.scanner.report import finding_line, summary_line
from vaultgate.scanner.runner import OPENAI_RULE, VAULTGATE_RULE

CLIENT_DOC = "docs/CLIENT.md"

TITLES = {
    Place.SHELL_HISTORY: "Shell history",
    Place.REPL_HISTORY: "REPL history",
    Place.SHELL_STARTUP: "Shell start-up files",
    Place.TOOL_CONFIG: "Tool configuration",
    Place.DOTENV: "Dotenv files",
    Place.NOTEBOOK: "Jupyter notebooks",
}

ADVICE = {
    Place.SHELL_HISTORY: (
        "Typed on a command line: the history file keeps it in plain text. After rotating, delete those lines. "
        f"Next time run `vaultgate login` once and `vaultgate exec -- COMMAND`, so no key is typed ({CLIENT_DOC})."
    ),
    Place.REPL_HISTORY: (
        "Typed into a REPL whose history keeps it (IPython: `%history -g` shows session/input). After rotating, "
        f"delete the entries; in Python use `vaultgate.client` instead of pasting a key ({CLIENT_DOC})."
    ),
    Place.SHELL_STARTUP: (
        "Exported from a shell start-up file, so every program you run sees it. Remove the line: `vaultgate login` "
        f"keeps the key in the OS keyring and `vaultgate exec -- COMMAND` passes a short-lived token ({CLIENT_DOC})."
    ),
    Place.TOOL_CONFIG: (
        "Stored in plain text in a tool's configuration. Remove it and start the tool with "
        f"`vaultgate exec -- TOOL`, which sets OPENAI_API_KEY to a short-lived token ({CLIENT_DOC})."
    ),
    Place.DOTENV: (
        "In a dotenv file, which ends up in backups, archives and, despite .gitignore, in commits. Remove it and "
        f"run the program with `vaultgate exec -- COMMAND` instead of a .env file ({CLIENT_DOC})."
    ),
    Place.NOTEBOOK: (
        "In a notebook cell or its saved output (.ipynb_checkpoints keeps copies). Delete the key, clear the "
        f"outputs, and use `vaultgate.client` in the notebook ({CLIENT_DOC})."
    ),
}

ROTATE = {
    VAULTGATE_RULE: (
        "vaultgate keys: find the id with `vaultgate key list` (same display form) and run "
        "`vaultgate key rotate KEY_ID`, or ask an admin to revoke it."
    ),
    OPENAI_RULE: (
        "OpenAI keys work without the gateway: have the key revoked in the OpenAI dashboard and use your "
        "vaultgate key instead."
    ),
}


def render_home_text(scan: HomeScan) -> str:
    """Findings by place with advice, then what was skipped, how to rotate, and the summary."""
    lines: list[str] = []
    for place in Place:
        found = [f for f in scan.result.findings if f.place == place.value]
        if not found:
            continue
        lines.append(f"{TITLES[place]} ({place.value})")
        lines += [f"  {finding_line(f)}" for f in found]
        lines.append(f"  -> {ADVICE[place]}")
        lines.append("")
    if scan.skipped:
        lines.append(f"Skipped ({len(scan.skipped)}, not read)")
        lines += [f"  {s.path}: {s.reason}" for s in scan.skipped]
        lines.append("")
    rules = {f.rule_id for f in scan.result.findings}
    rotate = [text for rule, text in ROTATE.items() if rule in rules]
    if rotate:
        lines.append("Rotate every key found first; a key that was on disk may have been copied.")
        lines += [f"  {text}" for text in rotate]
    lines.append(f"{summary_line(scan.result)} under {scan.home}")
    return "\n".join(lines) + "\n"


def home_extra(scan: HomeScan) -> dict[str, object]:
    """What a home scan adds to the JSON document: the directory and the skipped files."""
    return {
        "home": scan.home,
        "skipped": [{"path": s.path, "reason": s.reason} for s in scan.skipped],
    }
