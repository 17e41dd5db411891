"""The actions on an issue over HTTP, each a sub-resource named after it (paths fixed by issue 9): a route builds the
command from the body and the path and makes one call; handlers decide who may and whether the status allows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import Field

from services.issue_coordination import handlers, handlers_handling
from services.issue_coordination.api import IssueId, issue_written
from services.issue_coordination.commands import (
    Accept,
    AcceptBody,
    AddNote,
    AddNoteBody,
    Assign,
    AssignBody,
    Confirm,
    ConfirmBody,
    DecideExtension,
    DecideExtensionBody,
    DecideReassignment,
    DecideReassignmentBody,
    ProvideInformation,
    ProvideInformationBody,
    Reject,
    RejectBody,
    RequestExtension,
    RequestExtensionBody,
    RequestInformation,
    RequestInformationBody,
    RequestReassignment,
    RequestReassignmentBody,
    Resolve,
    ResolveBody,
    Withdraw,
    WithdrawBody,
)
from services.issue_coordination.views import Written
from shared.command_bodies import command_from
from shared.commands import Outcome
from shared.web import MetaDep, RuntimeDep

router = APIRouter(prefix="/v1/issues/{issue_id}", tags=["issues"])
RequestId = Annotated[str, Path(description="申请编号")]


class RequestWritten(Written):
    request_id: str = Field(description="新申请的编号(审批或答复时使用)")


def request_written(made: tuple[Outcome, str], response: Response) -> RequestWritten:
    """The answer to a request made on an issue (reassignment, extension, information): 201 with the request's id."""
    outcome, request_id = made
    return RequestWritten(**issue_written(outcome, response, 201).model_dump(), request_id=request_id)


@router.post("/withdrawal", summary="撤回问题(提出单位,仅在交办前)")
async def withdraw(issue_id: IssueId, body: WithdrawBody, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    cmd = command_from(Withdraw, body, issue_id=issue_id)
    return issue_written(await handlers.withdraw(rt, cmd, meta), response)


@router.post("/assignment", summary="交办问题(指挥部办公室:首接负责单位、协办单位与办理期限)")
async def assign(issue_id: IssueId, body: AssignBody, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    cmd = command_from(Assign, body, issue_id=issue_id)
    return issue_written(await handlers.assign(rt, cmd, meta), response)


@router.post(
    "/reassignment-requests", status_code=201, summary="申请退回改派(首接负责单位,说明理由,由指挥部办公室审批)"
)
async def request_reassignment(
    issue_id: IssueId, body: RequestReassignmentBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> RequestWritten:
    cmd = command_from(RequestReassignment, body, issue_id=issue_id)
    return request_written(await handlers.request_reassignment(rt, cmd, meta), response)


@router.post("/reassignment-requests/{request_id}/decision", summary="审批改派申请(指挥部办公室:同意并改派,或不同意)")
async def decide_reassignment(
    issue_id: IssueId, request_id: RequestId, body: DecideReassignmentBody, rt: RuntimeDep, meta: MetaDep,
    response: Response,
) -> Written:  # fmt: skip
    cmd = command_from(DecideReassignment, body, issue_id=issue_id, request_id=request_id)
    return issue_written(await handlers.decide_reassignment_request(rt, cmd, meta), response)


@router.post("/acceptance", summary="受理问题(首接负责单位)")
async def accept(issue_id: IssueId, body: AcceptBody, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    cmd = command_from(Accept, body, issue_id=issue_id)
    return issue_written(await handlers_handling.accept(rt, cmd, meta), response)


@router.post("/notes", status_code=201, summary="填写办理进展(承办单位、提出单位或指挥部办公室)")
async def add_note(issue_id: IssueId, body: AddNoteBody, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    cmd = command_from(AddNote, body, issue_id=issue_id)
    return issue_written(await handlers_handling.add_note(rt, cmd, meta), response, 201)


@router.post("/extension-requests", status_code=201, summary="申请延期(首接负责单位,由指挥部办公室审批)")
async def request_extension(
    issue_id: IssueId, body: RequestExtensionBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> RequestWritten:
    cmd = command_from(RequestExtension, body, issue_id=issue_id)
    return request_written(await handlers_handling.request_extension(rt, cmd, meta), response)


@router.post("/extension-requests/{request_id}/decision", summary="审批延期申请(指挥部办公室:同意或不同意)")
async def decide_extension(
    issue_id: IssueId, request_id: RequestId, body: DecideExtensionBody, rt: RuntimeDep, meta: MetaDep,
    response: Response,
) -> Written:  # fmt: skip
    cmd = command_from(DecideExtension, body, issue_id=issue_id, request_id=request_id)
    return issue_written(await handlers_handling.decide_extension_request(rt, cmd, meta), response)


@router.post("/information-requests", status_code=201, summary="请提出单位补充情况(首接负责单位;等待期间期限暂停计算)")
async def request_information(
    issue_id: IssueId, body: RequestInformationBody, rt: RuntimeDep, meta: MetaDep, response: Response
) -> RequestWritten:
    cmd = command_from(RequestInformation, body, issue_id=issue_id)
    return request_written(await handlers_handling.request_information(rt, cmd, meta), response)


@router.post("/information-requests/{request_id}/answer", summary="补充情况(提出单位)")
async def provide_information(
    issue_id: IssueId, request_id: RequestId, body: ProvideInformationBody, rt: RuntimeDep, meta: MetaDep,
    response: Response,
) -> Written:  # fmt: skip
    cmd = command_from(ProvideInformation, body, issue_id=issue_id, request_id=request_id)
    return issue_written(await handlers_handling.provide_information(rt, cmd, meta), response)


@router.post("/resolution", summary="办结问题(首接负责单位,须已受理,附办结答复)")
async def resolve(issue_id: IssueId, body: ResolveBody, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    cmd = command_from(Resolve, body, issue_id=issue_id)
    return issue_written(await handlers_handling.resolve(rt, cmd, meta), response)


@router.post("/confirmation", summary="确认办结并评价满意度 1-5(提出单位)")
async def confirm(issue_id: IssueId, body: ConfirmBody, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    cmd = command_from(Confirm, body, issue_id=issue_id)
    return issue_written(await handlers_handling.confirm(rt, cmd, meta), response)


@router.post("/rejection", summary="退回重办(提出单位不认可办结答复;计入重办次数)")
async def reject(issue_id: IssueId, body: RejectBody, rt: RuntimeDep, meta: MetaDep, response: Response) -> Written:
    cmd = command_from(Reject, body, issue_id=issue_id)
    return issue_written(await handlers_handling.reject(rt, cmd, meta), response)
