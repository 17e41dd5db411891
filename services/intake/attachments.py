"""Site evidence (现场照片, documents): which files are accepted, how they are recognised, and the attachment's state.

Pure: the route (services/intake/api_attachments.py) streams the bytes, stores them in the object store and appends
the event this module decides. A file is recognised by its first bytes (magic numbers), not by what the client
declares: a declared type that the content contradicts is refused.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime

from pydantic import BaseModel

from shared.catalogue.intake import AttachmentUploaded
from shared.domain_errors import DomainError, Invalid, invalid
from shared.envelope import Envelope

MAX_BYTES = 20 * 1024 * 1024  # 20 MB: a phone photo or a scanned document; what shared.body_limit lets through
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ACCEPTED = {
    "image/jpeg": "JPEG 图片",
    "image/png": "PNG 图片",
    "application/pdf": "PDF 文档",
    DOCX: "Word 文档",
    XLSX: "Excel 表格",
}
# What a file name may not hold: path separators and control characters (it becomes a download's file name).
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class UnsupportedType(DomainError):
    """The declared media type is none of the accepted ones."""

    status = 415


def declared_type(content_type: str | None) -> str:
    """The media type without parameters; 415 when it is not one of the accepted types."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in ACCEPTED:
        accepted = "、".join(ACCEPTED)
        raise UnsupportedType(
            f"不支持的附件类型 {media or '(未声明)'}", field="content-type", reason=f"只接受 {accepted}"
        )
    return media


def sniffed_type(data: bytes) -> str | None:
    """The accepted type the content is, judged by its bytes; None when it is none of them."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"PK\x03\x04"):  # a zip: Word and Excel files differ by the parts inside
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except (zipfile.BadZipFile, ValueError):
            return None
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
    return None


def check_content(declared: str, data: bytes) -> None:
    if not data:
        raise invalid("body", "附件不能为空")
    actual = sniffed_type(data)
    if actual != declared:
        what = ACCEPTED[actual] if actual else "无法识别的内容"
        raise Invalid(f"附件内容与声明的类型 {declared} 不符", field="body", reason=f"内容是{what},与声明的类型不符")


def check_name(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise invalid("name", "文件名长度须为 1 至 200 个字符")
    if _BAD_NAME.search(name):
        raise invalid("name", "文件名不能含路径分隔符或控制字符")
    return name


class AttachmentState(BaseModel):
    id: str
    project_id: str
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


def evolve_attachment(
    state: AttachmentState | None, envelope: Envelope, payload: BaseModel | None = None
) -> AttachmentState:
    if not isinstance(payload, AttachmentUploaded):
        raise ValueError(f"attachment: unexpected {envelope.type}")
    return AttachmentState(
        id=envelope.aggregate_id, uploaded_by=envelope.actor.org_id, uploaded_at=envelope.recorded_at, **dict(payload)
    )


def decide_upload(state: AttachmentState | None, uploaded: AttachmentUploaded) -> AttachmentUploaded | None:
    """Once per id: a retry with the same Idempotency-Key targets the same id and appends nothing."""
    return uploaded if state is None else None
