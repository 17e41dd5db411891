"""The audit service's events: seals over the log (docs/audit.md, docs/adr/0030).

A `LogSealed` event is one seal: an RFC 6962 Merkle root over the hashes of the stream's events 1..tree_size, signed
with the platform's Ed25519 key over the RFC 8785 JSON of the seal without `signature`. All seals are one aggregate
(`seal/log`), so the seal number is the aggregate's version and two sealers racing meet as a concurrency conflict.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.catalogue.registry import event

SEAL_AGGREGATE = "seal"
SEAL_CHAIN_ID = "log"  # the one chain of seals
Hex32 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


@event("LogSealed", aggregate=SEAL_AGGREGATE)
class LogSealed(BaseModel):
    """封存:对事件流 1..tree_size 的默克尔根(RFC 6962)及其 Ed25519 签名。"""

    model_config = ConfigDict(extra="forbid")

    stream: str = Field(description="事件流名称")
    seal_number: int = Field(ge=1, description="封存序号(从 1 起连续)")
    tree_size: int = Field(ge=1, description="覆盖的事件数:流序号 1..tree_size")
    root_hash: Hex32 = Field(description="RFC 6962 默克尔树根(十六进制)")
    sealed_at: str = Field(description="封存时间(平台时钟,ISO 8601)")
    key_id: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")] = Field(description="签名公钥编号")
    algorithm: Literal["Ed25519"] = Field(default="Ed25519", description="签名算法")
    signature: str = Field(description="Ed25519 签名(base64),签署不含 signature 的本封存的 RFC 8785 JSON")
    trigger: str = Field(description="触发方式:timer:<周期> 或 on_demand", max_length=120)

    def signed_document(self) -> dict[str, Any]:
        """What the signature covers: the seal without `signature`."""
        return self.model_dump(mode="json", exclude={"signature"})
