"""A tiny HTML writer: every value goes through ``esc``; fragments already built are ``Html``.

No template engine (Jinja2 is not a runtime dependency of vaultgate): pages are short functions
that join escaped fragments. No inline script or style anywhere: the CSP forbids both.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from vaultgate.services.context import Actor


class Html(str):
    """Markup that is already safe to emit as it is."""

    __slots__ = ()


EMPTY = Html("")


def esc(value: object) -> Html:
    """Text made safe for an element's content or a quoted attribute (None: empty)."""
    if isinstance(value, Html):
        return value
    if value is None:
        return Html("")
    if isinstance(value, datetime):
        value = value.strftime("%Y-%m-%d %H:%M UTC")
    return Html(html.escape(str(value), quote=True))


def join(parts: Iterable[object]) -> Html:
    """Fragments one after another (text among them escaped)."""
    return Html("".join(esc(part) for part in parts))


@dataclass(frozen=True, slots=True)
class Nav:
    """One entry of the navigation: its path under /console and its label."""

    path: str
    label: str


NAV = (
    Nav("keys", "My keys"),
    Nav("org", "Members and teams"),
    Nav("providers", "Providers and routes"),
    Nav("usage", "Usage"),
    Nav("audit", "Audit"),
    Nav("posture", "Posture"),
    Nav("lockdown", "Lockdown"),
)


def csrf_field(token: str) -> Html:
    """The hidden anti-forgery field every form carries."""
    return Html(f'<input type="hidden" name="csrf" value="{esc(token)}">')


def page(title: str, body: Html, *, actor: Actor | None, csrf: str = "", current: str = "") -> Html:
    """A whole document: header with who is signed in, navigation, the main content."""
    nav = Html("")
    who = Html("")
    if actor is not None:
        links = join(
            Html(
                f'<li><a href="/console/{item.path}"'
                + (' aria-current="page"' if item.path == current else "")
                + f">{esc(item.label)}</a></li>"
            )
            for item in NAV
        )
        nav = Html(f'<nav aria-label="Console"><ul>{links}</ul></nav>')
        who = Html(
            f'<p class="who">Signed in as <strong>{esc(actor.name)}</strong> ({esc(actor.role.value)})</p>'
            f'<form method="post" action="/console/signout" class="inline">{csrf_field(csrf)}'
            '<button type="submit">Sign out</button></form>'
        )
    return Html(
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · vaultgate console</title>"
        '<link rel="stylesheet" href="/console/static/console.css">'
        '<script src="/console/static/console.js" defer></script>'
        '</head><body><a class="skip" href="#main">Skip to content</a>'
        f'<header><p class="brand">vaultgate console</p>{who}</header>{nav}'
        f'<main id="main"><h1>{esc(title)}</h1>{body}</main></body></html>'
    )


def table(
    caption: str, headers: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str = "Nothing yet."
) -> Html:
    """A data table with a caption and column headers; ``empty`` when there are no rows."""
    body = join(Html("<tr>" + join(Html(f"<td>{esc(cell)}</td>") for cell in row) + "</tr>") for row in rows)
    if not body:
        return Html(f'<p class="empty">{esc(empty)}</p>')
    head = join(Html(f'<th scope="col">{esc(name)}</th>') for name in headers)
    return Html(
        f'<div class="scroll"><table><caption>{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def notice(text: str, *, kind: str = "info") -> Html:
    """A message above the page's content (``error`` is announced to screen readers at once)."""
    role = "alert" if kind == "error" else "status"
    return Html(f'<p class="notice {esc(kind)}" role="{role}">{esc(text)}</p>')


def field(
    label: str, name: str, *, kind: str = "text", value: str = "", hint: str = "", required: bool = False
) -> Html:
    """A labelled input (with an optional hint tied to it by aria-describedby)."""
    ident = f"f-{name}"
    described = f' aria-describedby="{ident}-hint"' if hint else ""
    hint_html = f'<span class="hint" id="{ident}-hint">{esc(hint)}</span>' if hint else ""
    req = " required" if required else ""
    return Html(
        f'<div class="field"><label for="{ident}">{esc(label)}</label>'
        f'<input id="{ident}" name="{esc(name)}" type="{esc(kind)}" value="{esc(value)}"{described}{req}>'
        f"{hint_html}</div>"
    )


def select(label: str, name: str, options: Sequence[tuple[str, str]], selected: str = "") -> Html:
    """A labelled drop-down of (value, label) pairs."""
    ident = f"f-{name}"
    opts = join(
        Html(f'<option value="{esc(v)}"' + (" selected" if v == selected else "") + f">{esc(text)}</option>")
        for v, text in options
    )
    return Html(
        f'<div class="field"><label for="{ident}">{esc(label)}</label>'
        f'<select id="{ident}" name="{esc(name)}">{opts}</select></div>'
    )


def post_button(action: str, label: str, csrf: str, *, confirm: str = "", danger: bool = False) -> Html:
    """A one-button form that POSTs to ``action`` (``confirm``: the question console.js asks first)."""
    data = f' data-confirm="{esc(confirm)}"' if confirm else ""
    cls = ' class="danger"' if danger else ""
    return Html(
        f'<form method="post" action="{esc(action)}" class="inline"{data}>{csrf_field(csrf)}'
        f'<button type="submit"{cls}>{esc(label)}</button></form>'
    )
