"""Commands that carry site evidence name uploaded attachments by id (progress reports in intake, exemptions in
scheduling, change requests): this turns the ids into checked references, read from the log itself.

An attachment is its AttachmentUploaded on the subject `<prefix>.ev.attachment.<id>`, which only intake's NATS user
may publish (docs/adr/0006). Reading that subject, rather than a read model, lets an upload answered a moment ago
count before any projection has applied it, and lets every service check ids without a table of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.catalogue import CATALOGUE
from shared.catalogue.intake import AttachmentRef, AttachmentUploaded
from shared.domain_errors import invalid
from shared.eventstore import EventStore, subject_token_ok


async def referenced_attachments(
    store: EventStore, field: str, ids: Sequence[str], project_id: str
) -> list[AttachmentRef]:
    """The reference of each id, an attachment uploaded to `project_id`; 422 naming the first that is not."""
    if len(set(ids)) != len(ids):
        raise invalid(field, "附件重复引用")
    refs = []
    for i, attachment_id in enumerate(ids):
        uploaded = await _uploaded(store, attachment_id) if subject_token_ok(attachment_id) else None
        if uploaded is None:
            raise invalid(f"{field}.{i}", f"附件 {attachment_id} 不存在")
        if uploaded.project_id != project_id:
            raise invalid(f"{field}.{i}", f"附件 {attachment_id} 不属于该项目")
        refs.append(
            AttachmentRef(
                id=attachment_id,
                sha256=uploaded.sha256,
                size=uploaded.size,
                name=uploaded.name,
                content_type=uploaded.content_type,
            )
        )
    return refs


async def _uploaded(store: EventStore, attachment_id: str) -> AttachmentUploaded | None:
    for event in await store.read_aggregate("attachment", attachment_id):
        payload = CATALOGUE.payload_of(event)
        if isinstance(payload, AttachmentUploaded) and event.envelope.aggregate_id == attachment_id:
            return payload
    return None


class Evidence:
    """The attachments a command names, resolved once the command is authorized (so that a caller who may not write
    learns nothing of other projects' ids) and before it is decided: call `resolve` from the command's `authorize`."""

    def __init__(self, store: EventStore, field: str, ids: Sequence[str]) -> None:
        self.store = store
        self.field = field
        self.ids = list(ids)
        self.refs: list[AttachmentRef] = []

    async def resolve(self, project_id: str) -> None:
        self.refs = await referenced_attachments(self.store, self.field, self.ids, project_id) if self.ids else []
