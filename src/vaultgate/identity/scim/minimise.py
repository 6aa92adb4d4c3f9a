"""Data minimisation on SCIM input: standard User attributes vaultgate does not keep are dropped, not refused.

Identity providers send what their default attribute mappings hold: Entra ID and Okta add ``title``,
``phoneNumbers``, ``addresses``, ``preferredLanguage``, ``name`` parts and the enterprise extension
(``department``, ``manager``, ``employeeNumber``). vaultgate keeps none of it (docs/IDENTITY.md), so
those RFC 7643 attributes are removed from a request before it is parsed, and never stored. An
attribute that is in no schema, an unknown schema extension, and a ``password`` (vaultgate has no
passwords) still reach the parser and are refused with ``invalidSyntax``/``invalidPath``.
"""

from __future__ import annotations

import re
from typing import Any

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
_CORE = "urn:ietf:params:scim:schemas:core:2.0:user:"
# RFC 7643 §4.1 attributes of the core User schema that vaultgate does not keep (lower-cased).
UNKEPT = frozenset(
    {
        "nickname",
        "profileurl",
        "title",
        "usertype",
        "preferredlanguage",
        "locale",
        "timezone",
        "phonenumbers",
        "ims",
        "photos",
        "addresses",
        "entitlements",
        "roles",
        "x509certificates",
    }
)
_FIRST_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_$-]*")


def _unkept_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in UNKEPT or lowered == ENTERPRISE.lower()


def _without_unkept(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not _unkept_key(k)}


def _unkept_path(path: str) -> bool:
    text = path.strip()
    if text.lower().startswith(ENTERPRISE.lower()):
        return True
    if text.lower().startswith(_CORE):
        text = text[len(_CORE) :]
    first = _FIRST_NAME.match(text)
    return first is not None and first.group(0).lower() in UNKEPT


def user_document(document: dict[str, Any], *, patch: bool) -> dict[str, Any]:
    """``document`` (a User for POST/PUT, a PatchOp for PATCH) without the attributes vaultgate does not keep."""
    if not patch:
        kept = _without_unkept(document)
        schemas = kept.get("schemas")
        if isinstance(schemas, list):
            kept["schemas"] = [s for s in schemas if not (isinstance(s, str) and s.lower() == ENTERPRISE.lower())]
        return kept
    operations = document.get("Operations")
    if not isinstance(operations, list):
        return document
    kept_ops: list[Any] = []
    for op in operations:
        if not isinstance(op, dict):
            kept_ops.append(op)
            continue
        path, value = op.get("path"), op.get("value")
        if isinstance(path, str) and _unkept_path(path):
            continue
        if path is None and isinstance(value, dict):
            trimmed = _without_unkept(value)
            if value and not trimmed:
                continue
            op = {**op, "value": trimmed}
        kept_ops.append(op)
    return {**document, "Operations": kept_ops}
