"""Single sign-on to the console: pending sign-ins, and which member a verified identity signs in as.

- **Pending sign-ins** (:func:`start`, :func:`claim`): a sign-in's ``state``, ``nonce`` and PKCE verifier
  are kept server-side in ``identity_logins``, the state only as a keyed hash. A callback claims its row
  once, atomically, before anything is sent to the issuer, so a replayed callback is refused here
  ("this sign-in link was already used"); rows live :data:`LOGIN_TTL` and old ones are purged on each start.
- **Who signs in** (:func:`sign_in`), from claims the identity layer verified (a :class:`Person`): the
  member linked to the (issuer, subject) pair; else the member with the same email address, when the
  issuer verified it (``email_verified``) — the pair is then linked; else, when the person's groups map
  (:func:`vaultgate.services.identity.resolve`), a new member created with that placement. A group mapping
  also moves a member the sign-in finds (unless SCIM manages them). Members who are not active, and
  email domains outside the allowed ones, are refused.

Refusals are ``InvalidInput`` (the sign-in itself is unusable) or ``NotAuthorised`` (the identity may not
sign in); either way nothing is changed. Audit records name member ids, never an email or a subject.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane, Role, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotAuthorised
from vaultgate.services.identity import PROVIDER, Placement, place, resolve
from vaultgate.services.members import FINAL_STATES, check_display_name
from vaultgate.store.models import IdentityLogin, IdentityUser, Member, VaultSecret

LOGIN_TTL = timedelta(minutes=10)
# Sign-ins under way at once (rows younger than LOGIN_TTL); more are refused until some expire.
MAX_PENDING = 10_000
CLIENT_SECRET = "oidc_client_secret"  # the VaultSecret row holding the sealed client secret  # noqa: S105
NO_MEMBER = "no vaultgate member for this identity; ask an admin"
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._@-]+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SECRET_MAX = 4096


@dataclass(frozen=True, slots=True)
class Person:
    """What a verified ID token says about the person signing in (never stored as such, never audited)."""

    issuer: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    username: str | None = None
    groups: tuple[str, ...] = ()
    # Entra ID's immutable object id (the ``oid`` claim): what its SCIM provisioning sends as ``externalId``.
    object_id: str | None = None


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """A sign-in under way: the state (for the browser's cookie and the issuer), the nonce, the verifier."""

    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A sign-in that succeeded: the identity link the session names, and the member."""

    identity_id: str
    member_id: str
    created: bool


# ---- the client secret ------------------------------------------------------------------------------------


def set_client_secret(cp: ControlPlane, actor: Actor, secret: str | None) -> bool:
    """Seal ``secret`` in the vault as the OIDC client secret (None: remove it); whether one is set now."""
    access.require_org_manager(actor, "set the single sign-on client secret")
    if secret is not None:
        secret = secret.strip()
        if not secret or len(secret) > _SECRET_MAX or any(ord(c) < 33 or ord(c) == 127 for c in secret):
            raise InvalidInput(f"the client secret must be 1-{_SECRET_MAX} printable characters without spaces")
    with cp.store.session() as session:
        row = session.get(VaultSecret, CLIENT_SECRET)
        if secret is None:
            if row is not None:
                session.delete(row)
                cp.audit(session, actor, "identity.oidc_secret", None, change="cleared")
            return False
        sealed = cp.vault.seal(CLIENT_SECRET, secret.encode())
        if row is None:
            session.add(VaultSecret(name=CLIENT_SECRET, sealed=sealed))
        else:
            row.sealed = sealed
        cp.audit(session, actor, "identity.oidc_secret", None, change="set")
        return True


def client_secret(cp: ControlPlane) -> str | None:
    """The sealed OIDC client secret, opened (None: the client is public, PKCE only)."""
    with cp.store.session() as session:
        row = session.get(VaultSecret, CLIENT_SECRET)
        return None if row is None else cp.vault.open(CLIENT_SECRET, row.sealed).decode()


# ---- pending sign-ins ---------------------------------------------------------------------------------------


def _state_hash(cp: ControlPlane, state: str) -> str:
    return cp.hasher.pseudonym("oidc-state", state)


def start(cp: ControlPlane) -> PendingLogin:
    """A new pending sign-in, stored (state as a keyed hash); rows past their time are purged first, and
    Conflict when ``MAX_PENDING`` sign-ins are under way (a flood of starts fills no table)."""
    pending = PendingLogin(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48))
    now = cp.clock()
    with cp.store.session() as session:
        session.execute(delete(IdentityLogin).where(IdentityLogin.created_at < now - LOGIN_TTL))
        # Anyone may start a sign-in: the rows one client can make are bounded, whatever its rate.
        if (session.scalar(select(func.count()).select_from(IdentityLogin)) or 0) >= MAX_PENDING:
            raise Conflict("too many single sign-ins are under way: try again in a few minutes")
        session.add(
            IdentityLogin(
                state_hash=_state_hash(cp, pending.state),
                nonce=pending.nonce,
                code_verifier=pending.code_verifier,
                created_at=now,
            )
        )
    return pending


def claim(cp: ControlPlane, state: str) -> PendingLogin:
    """The pending sign-in of ``state``, marked used at once (InvalidInput when unknown, used or too old)."""
    now = cp.clock()
    state_hash = _state_hash(cp, state)
    with cp.store.session() as session:
        row = session.get(IdentityLogin, state_hash)
        if row is None:
            raise InvalidInput("this sign-in is unknown or has expired: start again")
        if row.used_at is not None:
            raise InvalidInput("this sign-in link was already used: start again")
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=now.tzinfo)
        if now - created > LOGIN_TTL:
            raise InvalidInput("this sign-in took longer than 10 minutes: start again")
        found = PendingLogin(state, row.nonce, row.code_verifier)
        claimed = session.execute(
            update(IdentityLogin)
            .where(IdentityLogin.state_hash == state_hash, IdentityLogin.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:  # another callback with the same state claimed it first
            raise InvalidInput("this sign-in link was already used: start again")
    return found


# ---- who signs in -------------------------------------------------------------------------------------------


def domain_allowed(person: Person, allowed_domains: Sequence[str]) -> bool:
    """Whether the person's email may sign in: any when no domain is configured, else a verified email in one."""
    domains = {d.strip().lower() for d in allowed_domains if d.strip()}
    if not domains:
        return True
    if not person.email or not person.email_verified:
        return False
    return person.email.rpartition("@")[2].lower() in domains


def _linked(session: Session, person: Person) -> IdentityUser | None:
    pair = (IdentityUser.oidc_issuer == person.issuer, IdentityUser.oidc_subject == person.subject)
    return session.scalar(select(IdentityUser).where(*pair))


def _provisioned(session: Session, person: Person) -> IdentityUser | None:
    """The SCIM-provisioned identity, not yet linked to a sign-in, whose ``externalId`` is this person's
    subject or object id: the provider told vaultgate over SCIM who this is (Okta sends its user id, the
    ``sub``; Entra ID its object id, the ``oid``), which needs no email, verified or not."""
    ids = {i for i in (person.subject, person.object_id) if i}
    found = list(
        session.scalars(
            select(IdentityUser).where(
                IdentityUser.scim_managed.is_(True),
                IdentityUser.oidc_subject.is_(None),
                IdentityUser.external_id.in_(ids),
            )
        )
    )
    return found[0] if len(found) == 1 else None


def _by_email(session: Session, person: Person) -> Member | None:
    if not person.email or not person.email_verified:
        return None
    found = list(
        session.scalars(
            select(Member).where(func.lower(Member.email) == person.email.lower(), Member.status.notin_(FINAL_STATES))
        ).all()
    )
    if len(found) > 1:
        raise NotAuthorised("several vaultgate members have this email address; ask an admin to link yours")
    return found[0] if found else None


def _link(session: Session, cp: ControlPlane, member: Member, person: Person) -> IdentityUser:
    now = cp.clock()
    link = session.scalar(select(IdentityUser).where(IdentityUser.member_id == member.id))
    if link is None:
        link = IdentityUser(
            id=str(uuid.uuid4()), member_id=member.id, active=True, scim_managed=False, created_at=now, updated_at=now
        )
        session.add(link)
    elif link.oidc_subject is not None:
        raise NotAuthorised("this member is linked to another single sign-on identity; ask an admin")
    link.oidc_issuer, link.oidc_subject, link.updated_at = person.issuer, person.subject, now
    return link


def _new_name(session: Session, person: Person) -> str:
    base = ""
    for source in (person.username, person.email):
        base = _NAME_CHARS.sub("-", source or "")[:90].lstrip("._@-")
        if base:
            break
    base = base or "sso-user"
    for n in range(1, 1000):
        name = base if n == 1 else f"{base}-{n}"
        if session.scalar(select(Member.id).where(Member.name == name)) is None:
            return name
    raise NotAuthorised("no free member name for this identity; ask an admin to add you")


def _display_name(person: Person) -> str | None:
    try:
        return check_display_name(person.name) if person.name else None
    except InvalidInput:
        return None


def _create(session: Session, cp: ControlPlane, person: Person, placement: Placement) -> Member:
    email = person.email if person.email and person.email_verified and _EMAIL.match(person.email) else None
    member = Member(
        id=new_id("mem"),
        name=_new_name(session, person),
        email=email,
        display_name=_display_name(person),
        team_id=placement.team_id,
        role=placement.role.value,
        status="active",
        created_at=cp.clock(),
        limits={},
    )
    session.add(member)
    session.flush()
    cp.audit(session, PROVIDER, "identity.signin_created", member.id, role=member.role, team=member.team_id)
    cp.store.notify_change(session)
    return member


def _member(session: Session, cp: ControlPlane, person: Person) -> tuple[IdentityUser, Member, bool]:
    """The link and member this person signs in as (linking or creating as needed), and whether created."""
    link = _linked(session, person)
    if link is not None:
        member = session.get(Member, link.member_id)
        if member is None or member.status in FINAL_STATES:
            raise NotAuthorised(NO_MEMBER)
        return link, member, False
    provisioned = _provisioned(session, person)
    if provisioned is not None:
        member = session.get(Member, provisioned.member_id)
        if member is None or member.status in FINAL_STATES:
            raise NotAuthorised(NO_MEMBER)
        return _link(session, cp, member, person), member, False
    member = _by_email(session, person)
    if member is not None:
        return _link(session, cp, member, person), member, False
    placement = resolve(session, person.groups)
    if placement is None:
        if person.email and not person.email_verified:
            raise NotAuthorised(
                "the identity provider has not verified this email address, so it matches no member; ask an admin"
            )
        raise NotAuthorised(NO_MEMBER)
    member = _create(session, cp, person, placement)
    return _link(session, cp, member, person), member, True


def sign_in(cp: ControlPlane, person: Person, allowed_domains: Sequence[str] = ()) -> SignedIn:
    """Sign ``person`` in: the member they are (linked, matched by verified email, or created from a group
    mapping), placed by their groups, audited; NotAuthorised when they may not sign in (nothing changed)."""
    if not domain_allowed(person, allowed_domains):
        raise NotAuthorised("this email domain may not sign in to this vaultgate")
    with cp.store.session() as session:
        link, member, created = _member(session, cp, person)
        if member.status != "active":
            raise NotAuthorised("your vaultgate membership is suspended; ask an admin")
        placement = resolve(session, person.groups)
        if placement is not None and not created and not link.scim_managed:
            place(session, cp, PROVIDER, member, placement)
        actor = Actor(member.name, Role(member.role), member.id, member.team_id)
        cp.audit(session, actor, "identity.signin", member.id, method="oidc", created=created)
        return SignedIn(link.id, member.id, created)


def linked_member(session: Session, identity_id: str) -> Member | None:
    """The active member a single sign-on session names by its identity link; None once the link is gone."""
    found = session.execute(
        select(Member)
        .join(IdentityUser, IdentityUser.member_id == Member.id)
        .where(IdentityUser.id == identity_id, IdentityUser.oidc_subject.is_not(None))
    ).scalar_one_or_none()
    if found is None or found.status != "active":
        return None
    return found
