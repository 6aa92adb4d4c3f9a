"""Queries over a resource collection (RFC 7644 §3.4.2): filter, pagination, attribute selection.

The query parameters are parsed by scim2-models' SearchRequest bound to the served model, so a filter
naming an attribute the model does not have is ``invalidFilter``; the filter is then matched against
each rendered resource. ``attr eq "value"`` on ``userName``, ``displayName`` or ``externalId`` (what
Entra ID and Okta send before each create) is first narrowed in the database. Sorting is not supported
(``sortBy`` is ignored, as the ServiceProviderConfig says).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from scim2_models import Context, Error, ListResponse, Resource, SCIMException, SearchRequest
from scim2_models.path import CompareOperator, Comparison

from vaultgate.identity.scim.discovery import MAX_RESULTS

_PARAMETERS = ("filter", "startIndex", "count", "attributes", "excludedAttributes")


def parse(model: type[Resource[Any]], params: Mapping[str, str]) -> SearchRequest[Any]:
    """The query's parameters for ``model``; SCIMException (invalidFilter, invalidValue…) otherwise."""
    payload = {name: params[name] for name in _PARAMETERS if name in params}
    try:
        return SearchRequest[model].model_validate(payload, scim_ctx=Context.SEARCH_REQUEST)  # type: ignore[valid-type]
    except ValidationError as exc:
        raise SCIMException.from_error(Error.from_validation_errors(exc)[0]) from None


def parse_body(model: type[Resource[Any]] | None, document: Any) -> SearchRequest[Any]:
    """A ``POST …/.search`` body for ``model`` (None: the root search, every type); SCIMException otherwise."""
    request_type: Any = SearchRequest if model is None else SearchRequest[model]  # type: ignore[valid-type]
    try:
        return request_type.model_validate(document, scim_ctx=Context.SEARCH_REQUEST)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise SCIMException.from_error(Error.from_validation_errors(exc)[0]) from None


def equality(search: SearchRequest[Any], attributes: Sequence[str]) -> tuple[str, str] | None:
    """(attribute, value) when the filter is one ``eq`` on a string attribute among ``attributes``."""
    if search.filter is None:
        return None
    node = search.filter.ast
    if not (isinstance(node, Comparison) and node.op == CompareOperator.eq and isinstance(node.value, str)):
        return None
    path = node.attr_path
    if path.sub_attr is not None:
        return None
    for name in attributes:
        if path.attr.lower() == name.lower():
            return name, node.value
    return None


def page(
    model: type[Resource[Any]] | None, search: SearchRequest[Any], resources: Sequence[Resource[Any]]
) -> dict[str, Any]:
    """The ListResponse for the resources matching the filter: the requested page, at most MAX_RESULTS.

    ``model`` None: the root search, where an attribute a resource's type lacks does not match it."""
    strict = model is not None
    matching = [r for r in resources if search.filter is None or search.filter.match(r, strict=strict)]
    start = search.start_index or 1
    count = MAX_RESULTS if search.count is None else min(search.count, MAX_RESULTS)
    chosen = matching[start - 1 : start - 1 + count]
    document: dict[str, Any] = {
        "schemas": [str(ListResponse.__schema__)],
        "totalResults": len(matching),
        "startIndex": start,
        "itemsPerPage": len(chosen),
    }
    # Each resource dumped with the query's attribute selection (RFC 7644 §3.9).
    document["Resources"] = [r.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=search) for r in chosen]
    return document
