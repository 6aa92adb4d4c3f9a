"""``/admin/usage``: spend and usage reports, scoped by the reader's role (JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from vaultgate.admin.auth import CurrentActor, CurrentControlPlane
from vaultgate.admin.schemas_usage import UsageLineOut
from vaultgate.services import usage

router = APIRouter(prefix="/admin")

_CSV = {200: {"content": {"text/csv": {}}, "description": "The lines as JSON, or as CSV with format=csv"}}


@router.get(
    "/usage",
    response_model=list[UsageLineOut],
    response_model_exclude_unset=True,
    responses=_CSV,  # type: ignore[arg-type]
    tags=["usage"],
)
def usage_report(
    actor: CurrentActor,
    cp: CurrentControlPlane,
    since: Annotated[str | None, Query(description="from (inclusive): 2026-07-01, an ISO datetime, or 7d ago")] = None,
    until: Annotated[str | None, Query(description="to (exclusive), in the same forms")] = None,
    by: Annotated[str | None, Query(description="comma-separated: member, team, key, model, day")] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",
) -> Any:
    """Requests, errors, tokens and cost per member, team, key, model and/or day (metadata only).

    Team admins see their team, members themselves; owners, organisation admins and auditors everyone.
    """
    dimensions = usage.parse_by(by)
    start, end = usage.parse_range(since, until, cp.clock())
    lines = usage.report(cp, actor, since=start, until=end, by=dimensions)
    if format == "csv":
        return Response(usage.csv_text(lines, dimensions), media_type="text/csv; charset=utf-8")
    return [line.as_dict() for line in lines]
