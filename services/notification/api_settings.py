"""Contact points, preferences, subscriptions and routing rules over HTTP (paths fixed by issue 10). Thin routes:
one call each. An organisation manages its own (hq any, naming `org_id`); the auditor reads only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from services.notification import handlers_settings as h
from services.notification import history, policies
from services.notification.api import OrgQuery
from services.notification.commands import (
    ConfigureContactPoint,
    ContactPointBody,
    OnContactPoint,
    OnSubscription,
    PreferencesBody,
    PublishRoutingRules,
    SubscribeBody,
)
from services.notification.domain_rules import RULE_SET_ID
from services.notification.domain_subscriptions import SubscriptionState
from services.notification.queries_settings import settings_of
from services.notification.read_model_facts import RULE_SETS
from services.notification.read_model_subscriptions import SUBSCRIPTIONS
from services.notification.responses import Written
from services.notification.responses_settings import (
    ContactPointView,
    PreferencesView,
    SettingWritten,
    SubscriptionView,
    contact_point_view,
    subscription_view,
)
from services.notification.secret_box import SecretBox
from shared.catalogue.notification import RoutingRulesPublished
from shared.command_bodies import command_from
from shared.commands import Outcome, load
from shared.envelope import Role
from shared.paging import Page, PagingDep
from shared.runtime import Runtime
from shared.time_travel import AsOf, AsOfDep, folded_until
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, require_roles, written

router = APIRouter(prefix="/v1")
HQ = require_roles(Role.HQ)
ContactPointId = Annotated[str, Path(description="联系方式编号")]
SubscriptionId = Annotated[str, Path(description="订阅编号")]


def secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


BoxDep = Annotated[SecretBox, Depends(secret_box)]


def _written(outcome: Outcome, response: Response, status: int, location: str) -> Written:
    return Written(**written(outcome, response, status, location=location))


def _setting(item_id: str, outcome: Outcome, response: Response, status: int, location: str) -> SettingWritten:
    body = written(outcome, response, status, location=location)
    return SettingWritten(id=item_id, org_id=outcome.aggregate_id, version=body["version"], seq=body["seq"])


SETTINGS_AS_OF = (
    "给出 as_of 时为历史视图:该机构的设置(联系方式、接收偏好、订阅)在该时刻的状态,由其事件日志折叠而成;该时刻尚未"
    "设置过时与从未设置的机构相同(空列表或默认偏好、版本号 0,不返回 404)。"
)


async def settings_then(rt: Runtime, org: str, as_of: AsOf | None, response: Response) -> tuple[SubscriptionState, int]:
    """An organisation's settings now (the read model), or folded from the log up to `as_of`; its version then."""
    if as_of is None:
        return await settings_of(rt.pool, rt.schema, org)
    state, events = await folded_until(rt.store, SUBSCRIPTIONS, org, as_of.moment)
    as_of.mark(response)
    return state or SubscriptionState(org_id=org), history.version_of(events)


@router.get("/contact-points", tags=["contact-points"], summary="联系方式列表(密钥只显示提示;可查历史时刻 as_of)",
            description=SETTINGS_AS_OF, dependencies=[MinSeqDep])  # fmt: skip
async def list_contact_points(
    rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, as_of: AsOfDep, response: Response,
    org_id: OrgQuery = None,
) -> Page[ContactPointView]:  # fmt: skip
    org = policies.readable_org(principal, org_id)
    state, _ = await settings_then(rt, org, as_of, response)
    points = [contact_point_view(org, p) for _, p in sorted(state.contact_points.items())]
    return Page(items=paging.cut(points), total=len(points), **paging.echo())


@router.post("/contact-points", status_code=201, tags=["contact-points"],
             summary="新增联系方式(邮箱、Webhook、钉钉/企业微信机器人、短信;本机构或指挥部办公室)")  # fmt: skip
async def create_contact_point(body: ContactPointBody, rt: RuntimeDep, box: BoxDep, meta: MetaDep,
                               response: Response) -> SettingWritten:  # fmt: skip
    point_id, outcome = await h.create_contact_point(rt, body, box, meta)
    return _setting(point_id, outcome, response, 201, f"/v1/contact-points?org_id={outcome.aggregate_id}")


@router.put("/contact-points/{contact_point_id}", tags=["contact-points"],
            summary="修改联系方式(不带 secret 则保留原密钥)")  # fmt: skip
async def replace_contact_point(contact_point_id: ContactPointId, body: ContactPointBody, rt: RuntimeDep, box: BoxDep,
                                meta: MetaDep, response: Response) -> SettingWritten:  # fmt: skip
    cmd = command_from(ConfigureContactPoint, body, contact_point_id=contact_point_id)
    outcome = await h.replace_contact_point(rt, cmd, box, meta)
    return _setting(contact_point_id, outcome, response, 200, f"/v1/contact-points?org_id={outcome.aggregate_id}")


@router.delete("/contact-points/{contact_point_id}", tags=["contact-points"], summary="删除联系方式")
async def remove_contact_point(contact_point_id: ContactPointId, rt: RuntimeDep, meta: MetaDep,
                               response: Response) -> SettingWritten:  # fmt: skip
    outcome = await h.remove_contact_point(rt, OnContactPoint(contact_point_id=contact_point_id), meta)
    return _setting(contact_point_id, outcome, response, 200, f"/v1/contact-points?org_id={outcome.aggregate_id}")


@router.get("/preferences", tags=["preferences"],
            summary="接收偏好(各紧急程度的渠道、免打扰时段、汇总推送;可查历史时刻 as_of)",
            description=SETTINGS_AS_OF + "版本号(ETag)为该时刻设置的版本。", dependencies=[MinSeqDep])  # fmt: skip
async def get_preferences(rt: RuntimeDep, principal: PrincipalDep, as_of: AsOfDep, response: Response,
                          org_id: OrgQuery = None) -> PreferencesView:  # fmt: skip
    org = policies.readable_org(principal, org_id)
    state, version = await settings_then(rt, org, as_of, response)
    response.headers["ETag"] = f'"{version}"'
    return PreferencesView(org_id=org, version=version, preferences=state.preferences)


@router.put("/preferences", tags=["preferences"], summary="设置接收偏好(本机构或指挥部办公室)")
async def set_preferences(body: PreferencesBody, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    outcome = await h.set_preferences(rt, body, meta)
    return _written(outcome, response, 200, f"/v1/preferences?org_id={outcome.aggregate_id}")


@router.get("/subscriptions", tags=["subscriptions"], summary="订阅列表(可查历史时刻 as_of)",
            description=SETTINGS_AS_OF, dependencies=[MinSeqDep])  # fmt: skip
async def list_subscriptions(
    rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, as_of: AsOfDep, response: Response,
    org_id: OrgQuery = None,
) -> Page[SubscriptionView]:  # fmt: skip
    org = policies.readable_org(principal, org_id)
    state, _ = await settings_then(rt, org, as_of, response)
    items = [subscription_view(org, s) for _, s in sorted(state.subscriptions.items())]
    return Page(items=paging.cut(items), total=len(items), **paging.echo())


@router.post("/subscriptions", status_code=201, tags=["subscriptions"],
             summary="订阅路由规则之外的事件(可限定项目;本机构或指挥部办公室)")  # fmt: skip
async def subscribe(body: SubscribeBody, rt: RuntimeDep, meta: MetaDep, response: Response) -> SettingWritten:
    subscription_id, outcome = await h.subscribe(rt, body, meta)
    return _setting(subscription_id, outcome, response, 201, f"/v1/subscriptions?org_id={outcome.aggregate_id}")


@router.delete("/subscriptions/{subscription_id}", tags=["subscriptions"], summary="取消订阅")
async def unsubscribe(
    subscription_id: SubscriptionId, rt: RuntimeDep, meta: MetaDep, response: Response
) -> SettingWritten:
    outcome = await h.unsubscribe(rt, OnSubscription(subscription_id=subscription_id), meta)
    return _setting(subscription_id, outcome, response, 200, f"/v1/subscriptions?org_id={outcome.aggregate_id}")


@router.get("/routing-rules", tags=["routing-rules"],
            summary="路由规则版本(事件类型、条件 -> 接收方 -> 紧急程度;可查历史时刻 as_of)",
            description="给出 as_of 时为历史视图:该时刻已发布的路由规则版本(由事件日志折叠);之后发布的版本(即使生效日期"
            "更早)不列出;该时刻尚无版本时为空列表。", dependencies=[MinSeqDep])  # fmt: skip
async def list_routing_rules(
    rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, as_of: AsOfDep, response: Response
) -> Page[RoutingRulesPublished]:
    if as_of is None:
        state = (await load(rt.pool, rt.store, rt.schema, RULE_SETS, RULE_SET_ID)).state
    else:
        state, _ = await folded_until(rt.store, RULE_SETS, RULE_SET_ID, as_of.moment)
        as_of.mark(response)
    versions = state.versions if state else []
    return Page(items=paging.cut(versions), total=len(versions), **paging.echo())


@router.post("/routing-rules", status_code=201, tags=["routing-rules"], dependencies=[HQ],
             summary="发布新的路由规则版本(指挥部办公室;带生效日期)")  # fmt: skip
async def publish_routing_rules(cmd: PublishRoutingRules, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    return _written(await h.publish_routing_rules(rt, cmd, meta), response, 201, "/v1/routing-rules")
