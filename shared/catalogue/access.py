"""The access log: every request an auditor makes, on any service, recorded as an event (docs/adr/0033).

One aggregate per auditor organisation, per business day, per service: `<service>_access` /
`<org_id>_<yyyymmdd>`. The event has one shape everywhere; each service appends it on its own aggregate type only
(shared/catalogue/ownership.py), so its NATS user may publish nothing of another service's.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from shared.catalogue.ownership import SERVICES, access_aggregate
from shared.catalogue.registry import event

ACCESS_AGGREGATES = sorted(access_aggregate(service) for service in SERVICES)


class QueryParameter(BaseModel):
    """One query-string parameter as sent (repeated names stay repeated, in order); a secret's value is withheld."""

    name: str
    value: str


@event("AuditorAccessRecorded", aggregate=ACCESS_AGGREGATES[0], also_on=ACCESS_AGGREGATES)
class AuditorAccessRecorded(BaseModel):
    org_id: str = Field(description="审计方组织")
    user: str = Field(description="所用凭据(credential_id)")
    day: date = Field(description="业务日(中国时间)")
    accessed_at: datetime = Field(description="平台时钟上的访问时刻")
    service: str
    method: str
    path: str
    route: str | None = Field(default=None, description="路由模板,如 /v1/projects/{project_id}")
    path_params: dict[str, str] = Field(default_factory=dict)
    query: list[QueryParameter] = Field(default_factory=list)
    status: int = Field(description="应答状态码")
