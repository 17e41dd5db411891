"""What clients ask of notification: whole commands handlers take (the body plus ids from the path)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from shared.catalogue.dates import IsoDate
from shared.catalogue.notification import ContactKind, Preferences
from shared.catalogue.notification_rules import RoutingRule
from shared.command_bodies import PathId, Strict


class MarkRead(Strict):
    notification_id: PathId


class PublishRoutingRules(Strict):
    """发布新的路由规则版本(整套规则,带生效日期)。"""

    effective_from: IsoDate = Field(description="生效日期(此日及以后记录的事件按此版本路由)")
    rules: list[RoutingRule] = Field(min_length=1, max_length=200, description="路由规则")
    note: str = Field(default="", max_length=2000, description="说明")

    @model_validator(mode="after")
    def _ids_once(self) -> PublishRoutingRules:
        ids = [rule.rule_id for rule in self.rules]
        for i, rule_id in enumerate(ids):
            if rule_id in ids[:i]:
                raise ValueError(f"rules[{i}].rule_id: 规则编号 {rule_id} 重复")
        return self


# -- contact points, preferences, subscriptions ------------------------------------------------------------------

Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
OrgId = Annotated[Slug | None, Field(description="机构编号(指挥部办公室可为其他机构设置;默认本机构)")]


class ContactPointBody(Strict):
    """联系方式:电子邮件、Webhook、钉钉或企业微信群机器人、短信。密钥只写入,不回显。"""

    org_id: OrgId = None
    kind: ContactKind = Field(
        description="email 电子邮件、webhook 单位系统、dingtalk 钉钉机器人、wecom 企业微信机器人、sms 短信"
    )
    address: str = Field(min_length=3, max_length=2000, description="邮箱地址、Webhook 或机器人地址(https)、手机号")
    label: str = Field(default="", max_length=100, description="名称")
    person: str | None = Field(
        default=None, min_length=1, max_length=50, description="机构内的具名联系人(如联络员、秘书)"
    )
    secret: str | None = Field(
        default=None, min_length=8, max_length=200, description="签名密钥(Webhook、钉钉加签、企业微信);只写入,不回显"
    )
    enabled: bool = Field(default=True, description="是否启用")


class ConfigureContactPoint(ContactPointBody):
    contact_point_id: PathId


class OnContactPoint(Strict):
    contact_point_id: PathId


class PreferencesBody(Strict):
    """接收偏好:各紧急程度依次尝试的渠道(后者为前者失败时的备用)、免打扰时段(北京时间)、汇总推送。"""

    org_id: OrgId = None
    preferences: Preferences


class SubscribeBody(Strict):
    """订阅:本机构在路由规则之外还要收到的事件类型(可限定某个项目)。"""

    org_id: OrgId = None
    event_types: list[Annotated[str, Field(pattern=r"^[A-Z][A-Za-z]{2,63}$")]] = Field(
        min_length=1, max_length=20, description="事件类型,如 StatusLightChanged"
    )
    project_id: Slug | None = Field(default=None, description="项目编号;不填为可见的全部项目")


class OnSubscription(Strict):
    subscription_id: PathId
