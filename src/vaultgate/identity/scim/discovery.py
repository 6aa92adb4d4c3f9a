"""The discovery documents (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and Schemas.

PATCH, filtering (at most :data:`MAX_RESULTS` resources a page) and ETags are supported; bulk, password
changes and sorting are not. The Schemas describe exactly the attributes vaultgate keeps and returns.
"""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ETag,
    Filter,
    Group,
    Meta,
    Patch,
    Required,
    Resource,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
)

from vaultgate.identity.scim.resources import ScimUser

MAX_RESULTS = 200
# Accepted on input only (resources.py): not published, never returned.
_UNPUBLISHED = {"name"}
# Sub-attributes vaultgate keeps (one email address; a group member is a user id). Others are accepted
# (display, type, primary: what identity providers send) but neither published nor returned.
_KEPT = {"emails": {"value"}, "members": {"value", "$ref", "type"}}
# Published as required: vaultgate always holds a value (a User created without one is active), and
# removing it would neither deactivate nor reactivate anyone.
_ALWAYS_SET = {"active"}


def service_provider_config(base: str) -> ServiceProviderConfig:
    """What this service supports."""
    return ServiceProviderConfig(
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="vaultgate SCIM token",
                description="A vgs_ token from 'vaultgate identity scim-token create', as a Bearer token.",
                primary=True,
            )
        ],
        meta=Meta(resource_type="ServiceProviderConfig", location=f"{base}/ServiceProviderConfig"),
    )


def _schema(model: type[Resource[Any]], name: str, description: str, base: str) -> Schema:
    schema = model.to_schema()
    schema.name, schema.description = name, description
    schema.attributes = [a for a in schema.attributes or [] if a.name not in _UNPUBLISHED]
    for attribute in schema.attributes:
        if attribute.name in _KEPT:
            attribute.sub_attributes = [s for s in attribute.sub_attributes or [] if s.name in _KEPT[attribute.name]]
        if attribute.name in _ALWAYS_SET:
            attribute.required = Required.true
    schema.meta = Meta(resource_type="Schema", location=f"{base}/Schemas/{schema.id}")
    return schema


def schemas(base: str) -> list[Schema]:
    """The User and Group schemas as served."""
    return [
        _schema(ScimUser, "User", "User Account", base),
        _schema(Group, "Group", "Group", base),
    ]


def resource_types(base: str) -> list[ResourceType]:
    """Users and Groups."""
    found = []
    for model, name in ((ScimUser, "User"), (Group, "Group")):
        kind = ResourceType.from_resource(model)
        kind.id, kind.name, kind.description = name, name, name
        kind.meta = Meta(resource_type="ResourceType", location=f"{base}/ResourceTypes/{name}")
        found.append(kind)
    return found
