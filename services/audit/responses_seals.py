"""What the seal endpoints answer (docs/audit.md describes every field for auditors)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.audit.sealing import SealRecord
from shared.responses import Answer


class SealView(Answer):
    seal: dict[str, Any] = Field(description="封存本身(LogSealed 载荷):签名覆盖除 signature 外全部字段的 RFC 8785 JSON")
    seq: int = Field(description="封存事件本身的流序号(它是之后封存的叶子)")
    event_hash: str = Field(description="封存事件的哈希")


def seal_view(record: SealRecord) -> SealView:
    return SealView(seal=record.seal.model_dump(mode="json"), seq=record.seq, event_hash=record.hash)


class PublicKeyView(Answer):
    key_id: str = Field(description="密钥编号:原始 32 字节公钥 SHA-256 的前 16 个十六进制字符")
    algorithm: str = Field(description="签名算法(Ed25519)")
    public_key: str = Field(description="原始 32 字节 Ed25519 公钥(base64)")


class PublicKeysView(Answer):
    current_key_id: str = Field(description="当前签名所用密钥编号")
    keys: list[PublicKeyView] = Field(description="平台全部签名公钥(当前的与轮换前的)")


class SealRef(Answer):
    seal_number: int = Field(description="封存序号")
    tree_size: int = Field(description="树的叶子数(覆盖流序号 1..tree_size)")
    root_hash: str = Field(description="默克尔树根")


def seal_ref(record: SealRecord) -> SealRef:
    s = record.seal
    return SealRef(seal_number=s.seal_number, tree_size=s.tree_size, root_hash=s.root_hash)


class InclusionView(Answer):
    seal: SealRef = Field(description="证明所对的封存")
    seq: int = Field(description="事件流序号")
    leaf_index: int = Field(description="叶子序号(seq - 1)")
    event_hash: str = Field(description="叶子内容:该事件的 32 字节哈希(十六进制)")
    proof: list[str] = Field(description="RFC 6962 审计路径(十六进制,由叶子向根)")


class ConsistencyView(Answer):
    first: SealRef = Field(description="较早的封存")
    second: SealRef = Field(description="较晚的封存")
    proof: list[str] = Field(description="RFC 6962 一致性证明(十六进制)")
