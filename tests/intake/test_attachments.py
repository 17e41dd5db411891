"""Site evidence against real NATS (object store and log) and PostgreSQL: upload, reference from a progress report,
download the same bytes; limits on size and type; only those who may see the project download it."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from urllib.parse import quote

import httpx
import pytest

from services.intake.attachments import DOCX, MAX_BYTES, XLSX, sniffed_type
from tests.intake.conftest import Intake
from tests.platform import auth, project_body

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # a PNG header and 10 KB of arbitrary bytes
PHOTO_NAME = "现场照片 2024-09-30.png"


def office(part: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(part, "<x/>")
    return buffer.getvalue()


async def _project(intake: Intake, unit: str = "unit-a") -> str:
    r = await intake.client.post("/v1/projects", json=project_body(unit_id=unit), headers=auth(intake.tokens["hq"]))
    assert r.status_code == 201, r.text
    assert await intake.runtime.runner.wait_for(r.json()["seq"], 10)
    project_id: str = r.json()["id"]
    return project_id


async def _upload(
    intake: Intake, project_id: str, data: bytes, content_type: str, token: str, name: str = PHOTO_NAME
) -> httpx.Response:
    return await intake.client.post(
        "/v1/attachments",
        params={"project_id": project_id, "name": name},
        content=data,
        headers=auth(intake.tokens[token], **{"content-type": content_type}),
    )


def test_types_are_recognised_by_their_bytes() -> None:
    assert sniffed_type(PNG) == "image/png"
    assert sniffed_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniffed_type(b"%PDF-1.7\n") == "application/pdf"
    assert sniffed_type(office("word/document.xml")) == DOCX
    assert sniffed_type(office("xl/workbook.xml")) == XLSX
    assert sniffed_type(office("other.xml")) is None
    assert sniffed_type(b"PK\x03\x04 not really a zip") is None
    assert sniffed_type(b"<html>") is None


async def test_upload_reference_from_a_report_and_download_the_same_bytes(intake: Intake) -> None:
    project_id = await _project(intake)
    r = await _upload(intake, project_id, PNG, "image/png", "unit-a")
    assert r.status_code == 201, r.text
    uploaded = r.json()
    digest = hashlib.sha256(PNG).hexdigest()
    assert uploaded["sha256"] == digest and uploaded["size"] == len(PNG) and uploaded["name"] == PHOTO_NAME
    attachment_id = uploaded["id"]
    assert r.headers["location"] == f"/v1/attachments/{attachment_id}"
    [event] = await intake.runtime.store.read_aggregate("attachment", attachment_id)
    assert event.envelope.type == "AttachmentUploaded"
    assert event.envelope.payload["sha256"] == digest and event.envelope.payload["size"] == len(PNG)
    assert event.envelope.payload["project_id"] == project_id

    # Referenced at once (the projection need not have applied the upload yet): the report carries hash and size.
    report = {"period_start": "2024-09-23", "period_end": "2024-09-29", "investment_this_period": "100",
              "image_progress_pct": "40", "attachments": [attachment_id]}  # fmt: skip
    r = await intake.client.post(
        f"/v1/projects/{project_id}/progress-reports", json=report, headers=auth(intake.tokens["unit-a"])
    )
    assert r.status_code == 201, r.text
    reported = [e for e in await intake.runtime.store.read_aggregate("project", project_id)][-1]
    assert reported.envelope.type == "ProgressReported"
    assert reported.envelope.payload["attachments"] == [
        {"id": attachment_id, "sha256": digest, "size": len(PNG), "name": PHOTO_NAME, "content_type": "image/png"}
    ]

    for reader in ("unit-a", "hq", "leader-a"):
        r = await intake.client.get(f"/v1/attachments/{attachment_id}", headers=auth(intake.tokens[reader]))
        assert r.status_code == 200, (reader, r.text)
        assert r.content == PNG and r.headers["content-type"] == "image/png"
        assert r.headers["etag"] == f'"{digest}"'
        assert r.headers["repr-digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(PNG).digest()).decode()}:"
        disposition = r.headers["content-disposition"]
        assert disposition.startswith("attachment;") and f"filename*=UTF-8''{quote(PHOTO_NAME, safe='')}" in disposition


async def test_references_must_name_uploads_of_the_same_project(intake: Intake) -> None:
    mine, other = await _project(intake), await _project(intake)
    r = await _upload(intake, other, PNG, "image/png", "hq")
    assert r.status_code == 201, r.text
    foreign = r.json()["id"]
    for attachments, field, reason in (
        ([foreign], "attachments.0", "不属于该项目"),
        (["a-missing"], "attachments.0", "不存在"),
    ):
        report = {"period_start": "2024-09-23", "period_end": "2024-09-29", "investment_this_period": "1",
                  "image_progress_pct": "1", "attachments": attachments}  # fmt: skip
        r = await intake.client.post(
            f"/v1/projects/{mine}/progress-reports", json=report, headers=auth(intake.tokens["hq"])
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == field and reason in r.json()["errors"][0]["reason"], r.text


async def test_size_type_and_visibility_limits(intake: Intake) -> None:
    project_id = await _project(intake)
    # Over the limit: 413, whether the length is declared or the body merely goes on.
    r = await _upload(intake, project_id, PNG[:8] + bytes(MAX_BYTES), "image/png", "unit-a")
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json"), r.text

    async def undeclared_length():  # type: ignore[no-untyped-def]
        yield PNG[:8]
        for _ in range(21):
            yield bytes(1024 * 1024)

    r = await intake.client.post(
        "/v1/attachments", params={"project_id": project_id, "name": "big.png"}, content=undeclared_length(),
        headers=auth(intake.tokens["unit-a"], **{"content-type": "image/png"}),
    )  # fmt: skip
    assert r.status_code == 413, r.text
    # A type not accepted: 415; an accepted type the bytes contradict: 422 naming the body.
    r = await _upload(intake, project_id, b"<html></html>", "text/html", "unit-a")
    assert r.status_code == 415 and r.json()["errors"][0]["field"] == "content-type", r.text
    r = await _upload(intake, project_id, b"<html></html>", "image/png", "unit-a")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body", r.text
    r = await _upload(intake, project_id, PNG, "application/pdf", "unit-a")
    assert r.status_code == 422 and "PNG" in r.json()["errors"][0]["reason"], r.text
    r = await _upload(intake, project_id, PNG, "image/png", "unit-a", name="../etc/passwd")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name", r.text
    # Another unit may neither upload to the project nor download from it; an unknown project or id: 404.
    r = await _upload(intake, project_id, PNG, "image/png", "unit-b")
    assert r.status_code == 403, r.text
    r = await _upload(intake, "p-missing", PNG, "image/png", "hq")
    assert r.status_code == 404, r.text
    document = office("word/document.xml")
    r = await _upload(intake, project_id, document, DOCX, "unit-a", name="进度说明.docx")
    assert r.status_code == 201, r.text
    attachment_id = r.json()["id"]
    r = await intake.client.get(f"/v1/attachments/{attachment_id}", headers=auth(intake.tokens["unit-b"]))
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json"), r.text
    r = await intake.client.get("/v1/attachments/a-missing", headers=auth(intake.tokens["hq"]))
    assert r.status_code == 404, r.text
    r = await intake.client.get(f"/v1/attachments/{attachment_id}", headers=auth(intake.tokens["unit-a"]))
    assert (r.status_code == 200 and r.content == office("word/document.xml")) or r.content[:2] == b"PK"


@pytest.mark.parametrize("kind", ["image/jpeg", "application/pdf", XLSX])
async def test_each_accepted_type_round_trips(intake: Intake, kind: str) -> None:
    data = {"image/jpeg": b"\xff\xd8\xff\xe0" + bytes(2000), "application/pdf": b"%PDF-1.4\n" + bytes(2000),
            XLSX: office("xl/workbook.xml")}[kind]  # fmt: skip
    project_id = await _project(intake)
    r = await _upload(intake, project_id, data, kind, "hq", name="file")
    assert r.status_code == 201, r.text
    r = await intake.client.get(f"/v1/attachments/{r.json()['id']}", headers=auth(intake.tokens["hq"]))
    assert r.status_code == 200 and r.content == data and r.headers["content-type"].startswith(kind)
