"""Site evidence over HTTP: upload a file to a project (`POST /v1/attachments`), then reference it by id in a
progress report (and, through their own services, in change requests and exemptions); download it
(`GET /v1/attachments/{id}`) if the project is visible to you.

The bytes go to the JetStream object store bucket the administrator provisions (shared/provision.py), under the
attachment's id; the log records an AttachmentUploaded with the size and SHA-256 the server measured. The upload is
the raw body with its Content-Type and the file name in `name` (a unit client sends a file as it is, no multipart
encoding); shared.body_limit lets this one route through with its own limit, counted here as the bytes arrive.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from nats.js import api as js_api
from nats.js.object_store import ObjectStore

from services.intake import attachments, queries
from services.intake.attachments import ACCEPTED, MAX_BYTES, AttachmentState
from services.intake.policies import can_read_project, can_write_project
from services.intake.read_model import ATTACHMENTS, PROJECTS
from services.intake.responses import AttachmentUploadedAnswer
from shared.auth import Principal
from shared.catalogue.intake import AttachmentUploaded
from shared.commands import handle, load
from shared.contract import may_answer
from shared.names import ATTACHMENT_BUCKET
from shared.problems import Problem
from shared.provision import OBJECT_STREAM
from shared.runtime import Runtime
from shared.web import MetaDep, PrincipalDep, RuntimeDep, written

router = APIRouter(prefix="/v1", tags=["attachments"])

AttachmentId = Annotated[str, Path(description="附件编号", pattern=r"^[A-Za-z0-9_-]{1,64}$")]
BINARY = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_BODY = {"requestBody": {"required": True, "content": {media: BINARY for media in ACCEPTED}}}


@may_answer(415)
async def declared_media(request: Request) -> str:
    """The upload's declared media type (415 unless jpeg, png, pdf, docx or xlsx)."""
    return attachments.declared_type(request.headers.get("content-type"))


async def _read_limited(request: Request) -> bytes:
    """The body, counted as it arrives: 413 as soon as it passes the limit (a client may not declare its length)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            raise Problem(
                413, f"附件超过 {MAX_BYTES // (1024 * 1024)} MB", errors=[{"field": "body", "reason": "过大"}]
            )
        chunks.append(chunk)
    return b"".join(chunks)


@may_answer(403, 404)
async def upload_target(
    rt: RuntimeDep,
    meta: MetaDep,
    project_id: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="所属项目编号")],
) -> str:
    """The project the upload is for: it exists (404) and the caller is hq or its responsible unit (403). Loaded as
    every command loads its aggregate (its row, then the log's tail), so a project registered a moment ago counts
    before the projection has applied it."""
    project = (await load(rt.pool, rt.store, rt.schema, PROJECTS, project_id)).state
    if project is None:
        raise Problem(404, "项目不存在", errors=[{"field": "project_id", "reason": "项目不存在"}])
    can_write_project(meta.principal, project)
    return project_id


async def _store(rt: Runtime) -> ObjectStore:
    return await rt.js.object_store(ATTACHMENT_BUCKET)


@router.post(
    "/attachments",
    status_code=201,
    summary="上传附件(现场照片、文件),返回附件编号供进度填报等引用",
    description=(
        f"请求体为文件本身,Content-Type 为 {'、'.join(ACCEPTED)} 之一,内容须与声明的类型相符(按文件头识别);"
        f"不超过 {MAX_BYTES // (1024 * 1024)} MB。大小与 SHA-256 由平台计算并记入事件。"
    ),
    openapi_extra=UPLOAD_BODY,
    response_model=AttachmentUploadedAnswer,
)
async def upload_attachment(
    request: Request,
    rt: RuntimeDep,
    meta: MetaDep,
    response: Response,
    media: Annotated[str, Depends(declared_media)],
    project_id: Annotated[str, Depends(upload_target)],
    name: Annotated[str, Query(min_length=1, max_length=200, description="文件名(下载时使用,可为中文)")],
) -> dict[str, Any]:
    name = attachments.check_name(name)
    data = await _read_limited(request)
    attachments.check_content(media, data)
    digest = hashlib.sha256(data).hexdigest()
    attachment_id = meta.new_id("a", f"attachment:{project_id}")
    # The bytes first, then the event: an event never points at bytes that are not there. A retry (same
    # Idempotency-Key, same id) stores the same bytes again under the same name and appends nothing twice.
    await (await _store(rt)).put(attachment_id, data, meta=js_api.ObjectMeta(name=attachment_id, description=name))
    uploaded = AttachmentUploaded(project_id=project_id, name=name, content_type=media, size=len(data), sha256=digest)
    outcome = await handle(
        rt, ATTACHMENTS, attachment_id, lambda s: attachments.decide_upload(s, uploaded), meta,
        scope=f"attachment:{project_id}",
    )  # fmt: skip
    return written(
        outcome, response, 201, location=f"/v1/attachments/{attachment_id}",
        project_id=project_id, name=name, content_type=media, size=len(data), sha256=digest,
    )  # fmt: skip


async def _visible_attachment(rt: Runtime, principal: Principal, attachment_id: str) -> AttachmentState:
    loaded = await load(rt.pool, rt.store, rt.schema, ATTACHMENTS, attachment_id)
    if loaded.state is None:
        raise Problem(404, "附件不存在")
    found = await queries.get_project(rt.pool, rt.schema, loaded.state.project_id)
    if found is None:  # the project's registration not yet applied here: as good as unknown
        raise Problem(404, "附件不存在")
    can_read_project(principal, found[0])
    return loaded.state


def content_disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback for old clients, the real (Chinese) name in filename*."""
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get(
    "/attachments/{attachment_id}",
    summary="下载附件(可查看该项目者)",
    response_class=StreamingResponse,
    responses={200: {"description": "附件文件", "content": {media: BINARY for media in ACCEPTED}}},
)
async def download_attachment(
    attachment_id: AttachmentId, rt: RuntimeDep, principal: PrincipalDep
) -> StreamingResponse:
    attachment = await _visible_attachment(rt, principal, attachment_id)
    info = await (await _store(rt)).get_info(attachment_id)
    stored = base64.urlsafe_b64decode(info.digest.split("=", 1)[1]).hex() if info.digest else None
    if stored != attachment.sha256:  # the object is not what the log recorded: never serve it as if it were
        raise RuntimeError(f"attachment {attachment_id}: stored digest {stored} differs from {attachment.sha256}")
    headers = {
        "Content-Disposition": content_disposition(attachment.name),
        "Content-Length": str(attachment.size),
        "ETag": f'"{attachment.sha256}"',
        "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(attachment.sha256)).decode()}:",
    }
    body = _chunks(rt, info, attachment.sha256)
    return StreamingResponse(body, media_type=attachment.content_type, headers=headers)


async def _chunks(rt: Runtime, info: js_api.ObjectInfo, sha256: str) -> AsyncIterator[bytes]:
    """The object's chunks, one direct get each, as the client takes them (never the whole file in memory). Checked
    against the SHA-256 the log recorded as they pass: a mismatch cuts the response short rather than end it well."""
    subject, seq, digest = f"$O.{ATTACHMENT_BUCKET}.C.{info.nuid}", 0, hashlib.sha256()
    for _ in range(info.chunks or 0):
        msg = await rt.js.get_msg(OBJECT_STREAM, seq=seq + 1, subject=subject, next=True, direct=True)
        assert msg.seq is not None and msg.data is not None
        seq = msg.seq
        digest.update(msg.data)
        yield msg.data
    if digest.hexdigest() != sha256:
        raise RuntimeError(f"attachment {info.name}: the stored bytes do not hash to {sha256}")
