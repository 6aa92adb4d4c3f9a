"""One effective policy: organisation, team, key and short-lived token combined, strictest wins.

The gateway checks exactly one :class:`KeyPolicy` per request, the one :func:`combine`
returns; it is computed when the snapshot is built, never per request. Every field of
``KeyPolicy`` has exactly one rule in :data:`RULES` (checked at import), so a field added
later cannot reach the hot path without saying how ceilings narrow it.

A field a policy leaves unset (no model list, no IP list, a scope group not named, no
privacy policy, no zero retention) imposes nothing: the other policies' values stand.
``allow_store`` is the exception by design: its unset value, ``false``, is already the strict one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, TypeVar

from vaultgate.policy.grants import IPNetwork, KeyPolicy, model_pattern
from vaultgate.policy.scopes import GROUPS
from vaultgate.privacy.modes import strictest, wider_parts

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one field combines into the stricter value, and where a policy asks for more than a ceiling."""

    combine: Callable[[KeyPolicy, KeyPolicy], Any]
    # Names of what ``policy`` (first) asks for beyond ``ceiling`` (second); empty when nothing.
    # The flag says whether an unset part of ``policy`` inherits the ceiling (a key, a token) or
    # replaces it (a new team policy replacing the old one: unset is then "no restriction").
    wider: Callable[[KeyPolicy, KeyPolicy, bool], tuple[str, ...]]


def _distinct(lists: Sequence[tuple[T, ...]]) -> tuple[tuple[T, ...], ...]:
    """Non-empty lists, each set once (the same set twice is the same constraint)."""
    seen: set[frozenset[T]] = set()
    out: list[tuple[T, ...]] = []
    for items in lists:
        key = frozenset(items)
        if items and key not in seen:
            seen.add(key)
            out.append(items)
    return tuple(out)


def _model_lists(p: KeyPolicy) -> tuple[tuple[str, ...], ...]:
    return _distinct((p.models, *p.model_ceilings))


def _ip_lists(p: KeyPolicy) -> tuple[tuple[IPNetwork, ...], ...]:
    return _distinct((p.ip_allow, *p.ip_ceilings))


def _all_models(a: KeyPolicy, b: KeyPolicy) -> tuple[tuple[str, ...], ...]:
    return _distinct(_model_lists(a) + _model_lists(b)) or ((),)


def _all_ips(a: KeyPolicy, b: KeyPolicy) -> tuple[tuple[IPNetwork, ...], ...]:
    return _distinct(_ip_lists(a) + _ip_lists(b)) or ((),)


def pattern_within(pattern: str, allowlist: tuple[str, ...]) -> bool:
    """Whether every model ``pattern`` matches is matched by one pattern of ``allowlist``.

    Exact for the allowlist syntax: ``q`` covers ``p`` iff ``q`` matches ``p`` read as text, each
    ``*`` of ``p`` a character only a ``*`` of ``q`` can absorb (neither crosses ``/``).
    """
    return any(model_pattern(q).fullmatch(pattern) is not None for q in allowlist)


def _models_within(asked: tuple[tuple[str, ...], ...], allowlist: tuple[str, ...]) -> bool:
    # The intersection of ``asked`` lies within ``allowlist`` if one of its lists does: sufficient,
    # and refusing the rare intersection that only jointly fits errs on the strict side.
    return any(all(pattern_within(p, allowlist) for p in patterns) for patterns in asked)


def _ips_within(asked: tuple[tuple[IPNetwork, ...], ...], allowlist: tuple[IPNetwork, ...]) -> bool:
    return any(
        all(any(n.version == c.version and n.subnet_of(c) for c in allowlist) for n in networks)  # type: ignore[arg-type]
        for networks in asked
    )


def _wider_lists(
    asked: tuple[tuple[Any, ...], ...],
    ceilings: Sequence[tuple[Any, ...]],
    within: Callable[[Any, Any], bool],
    name: str,
    inherit: bool,
) -> tuple[str, ...]:
    if not asked and inherit:  # no list of its own: the policy inherits the ceiling's
        return ()
    return (name,) if any(c and (not asked or not within(asked, c)) for c in ceilings) else ()


def _privacy(a: KeyPolicy, b: KeyPolicy) -> Any:
    if a.privacy is None or b.privacy is None:
        return a.privacy if b.privacy is None else b.privacy  # None: no opinion at that level
    return strictest(a.privacy, b.privacy)


def _residency(a: KeyPolicy, b: KeyPolicy) -> frozenset[str] | None:
    if a.residency is None or b.residency is None:
        return a.residency if b.residency is None else b.residency  # None: anywhere at that level
    return a.residency & b.residency  # strictest: only where both allow (possibly nowhere)


def _wider_residency(policy: KeyPolicy, ceiling: KeyPolicy, inherit: bool) -> tuple[str, ...]:
    if ceiling.residency is None:
        return ()
    if policy.residency is None:
        return () if inherit else ("residency",)
    return ("residency",) if not policy.residency <= ceiling.residency else ()


def _wider_scopes(policy: KeyPolicy, ceiling: KeyPolicy, inherit: bool) -> tuple[str, ...]:
    groups = policy.scopes if inherit else GROUPS  # unset groups mean write when nothing is inherited
    return ("scopes",) if any(policy.level(g) > ceiling.level(g) for g in groups) else ()


def _wider_privacy(policy: KeyPolicy, ceiling: KeyPolicy, inherit: bool) -> tuple[str, ...]:
    if ceiling.privacy is None:
        return ()
    if policy.privacy is None:
        return () if inherit else ("privacy",)
    return tuple(f"privacy.{part}" for part in wider_parts(policy.privacy, ceiling.privacy))


RULES: Mapping[str, FieldRule] = MappingProxyType(
    {
        # models and model_ceilings together hold every allowlist in force; a model must match each.
        "models": FieldRule(
            lambda a, b: _all_models(a, b)[0],
            lambda p, c, i: _wider_lists(_model_lists(p), (c.models,), _models_within, "models", i),
        ),
        "model_ceilings": FieldRule(
            lambda a, b: _all_models(a, b)[1:],
            lambda p, c, i: _wider_lists(_model_lists(p), c.model_ceilings, _models_within, "models", i),
        ),
        "scopes": FieldRule(
            lambda a, b: MappingProxyType({g: min(a.level(g), b.level(g)) for g in sorted({*a.scopes, *b.scopes})}),
            _wider_scopes,
        ),
        "ip_allow": FieldRule(
            lambda a, b: _all_ips(a, b)[0],
            lambda p, c, i: _wider_lists(_ip_lists(p), (c.ip_allow,), _ips_within, "ip_allow", i),
        ),
        "ip_ceilings": FieldRule(
            lambda a, b: _all_ips(a, b)[1:],
            lambda p, c, i: _wider_lists(_ip_lists(p), c.ip_ceilings, _ips_within, "ip_allow", i),
        ),
        "allow_store": FieldRule(
            lambda a, b: a.allow_store and b.allow_store,
            lambda p, c, i: ("allow_store",) if p.allow_store and not c.allow_store else (),
        ),
        "privacy": FieldRule(_privacy, _wider_privacy),
        "residency": FieldRule(_residency, _wider_residency),
        # True is the strict value: any level asking for zero retention gets it. Unset (false) asks
        # for nothing, so it is never wider than a ceiling that sets it; the ceiling's stands.
        "zero_retention": FieldRule(lambda a, b: a.zero_retention or b.zero_retention, lambda p, c, i: ()),
    }
)


def _check_rules() -> None:
    # Fail at import, not in production: a field without a rule would be dropped from the enforced policy.
    settable = {f.name for f in fields(KeyPolicy) if f.init}
    if settable != set(RULES):
        missing, extra = sorted(settable - set(RULES)), sorted(set(RULES) - settable)
        raise TypeError(f"policy.effective.RULES must cover every KeyPolicy field: missing {missing}, extra {extra}")


_check_rules()


def _pair(a: KeyPolicy, b: KeyPolicy) -> KeyPolicy:
    return KeyPolicy(**{name: rule.combine(a, b) for name, rule in RULES.items()})


def combine(first: KeyPolicy, *more: KeyPolicy | None) -> KeyPolicy:
    """The policy enforced for ``first`` under every policy in ``more`` (None: no policy at that level).

    Order does not matter for what is allowed: every field takes the strictest value.
    """
    return functools.reduce(_pair, (p for p in more if p is not None), first)


def wider_fields(policy: KeyPolicy, ceiling: KeyPolicy, *, inherit: bool = True) -> tuple[str, ...]:
    """What ``policy`` asks for beyond ``ceiling`` (``models``, ``privacy.pii.email``...); empty if nothing.

    With ``inherit`` (a key or token under its ceiling), unset parts of ``policy`` take the
    ceiling's value and are never wider; without it (a policy *replacing* ``ceiling``), an
    unset part means "no restriction" and is wider wherever the ceiling restricts.
    """
    found: list[str] = []
    for rule in RULES.values():
        found.extend(name for name in rule.wider(policy, ceiling, inherit) if name not in found)
    return tuple(found)
