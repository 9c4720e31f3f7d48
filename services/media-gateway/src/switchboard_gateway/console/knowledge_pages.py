"""A business's knowledge: its documents (upload with progress, list, delete) and the "try a
question" box."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from switchboard_common.ids import TOKEN_RE
from switchboard_common.knowledge import KnowledgeHit

from ..routes.deps import Context
from .deps import SignedIn, State, visible
from .knowledge_client import KnowledgeUnavailable, ask
from .view import PREFIX, page

router = APIRouter()
#: Largest upload the console passes on.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


def _check(business_id: str, principal: Any) -> None:
    if not TOKEN_RE.fullmatch(business_id):
        raise HTTPException(404, "not found")
    visible(principal, business_id)


async def _page(
    request: Request,
    business_id: str,
    state: State,
    principal: Any,
    question: str = "",
    hits: list[KnowledgeHit] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    try:
        documents = await state.knowledge.documents(business_id)
    except KnowledgeUnavailable as exc:
        documents, error = [], error or str(exc)
    return page(
        request,
        "knowledge.html",
        principal,
        status_code=status_code,
        business_id=business_id,
        documents=documents,
        question=question,
        hits=hits,
        error=error,
    )


@router.get("/businesses/{business_id}/knowledge", response_class=HTMLResponse)
async def knowledge(
    business_id: str, request: Request, state: State, principal: SignedIn
) -> HTMLResponse:
    _check(business_id, principal)
    return await _page(request, business_id, state, principal)


@router.post("/businesses/{business_id}/knowledge/ask", response_class=HTMLResponse)
async def try_question(
    business_id: str,
    request: Request,
    ctx: Context,
    state: State,
    principal: SignedIn,
    question: Annotated[str, Form(min_length=1, max_length=4000)],
) -> HTMLResponse:
    _check(business_id, principal)
    try:
        hits = await ask(ctx.nc, business_id, question)
    except KnowledgeUnavailable as exc:
        return await _page(
            request, business_id, state, principal, question, error=str(exc), status_code=503
        )
    return await _page(request, business_id, state, principal, question, hits=hits)


@router.post("/businesses/{business_id}/knowledge/documents")
async def upload(
    business_id: str, request: Request, state: State, principal: SignedIn, file: UploadFile
) -> Response:
    """The knowledge API's answer, passed on as JSON (the page's script shows progress: the
    upload's own, then the ingestion job's); without the script, back to the page."""
    _check(business_id, principal)
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return JSONResponse({"detail": "the file is larger than 50 MB"}, status_code=413)
    try:
        answer = await state.knowledge.upload(
            business_id,
            file.filename or "upload.txt",
            data,
            file.content_type or "application/octet-stream",
        )
    except KnowledgeUnavailable as exc:
        return JSONResponse({"detail": str(exc)}, status_code=503)
    if "application/json" not in request.headers.get("accept", ""):
        return RedirectResponse(f"{PREFIX}/businesses/{business_id}/knowledge", status_code=303)
    return JSONResponse(answer.json(), status_code=answer.status_code)


@router.get("/businesses/{business_id}/knowledge/jobs/{job_id}")
async def job(business_id: str, job_id: str, state: State, principal: SignedIn) -> JSONResponse:
    _check(business_id, principal)
    if not TOKEN_RE.fullmatch(job_id):
        raise HTTPException(404, "no such job")
    try:
        answer = await state.knowledge.job(job_id)
    except KnowledgeUnavailable as exc:
        return JSONResponse({"detail": str(exc)}, status_code=503)
    body = answer.json()
    if answer.status_code == 200 and body.get("business_id") != business_id:
        raise HTTPException(404, "no such job")
    return JSONResponse(body, status_code=answer.status_code)


@router.post("/businesses/{business_id}/knowledge/documents/{document_id}/delete")
async def delete(
    business_id: str, document_id: str, state: State, principal: SignedIn
) -> RedirectResponse:
    _check(business_id, principal)
    if not TOKEN_RE.fullmatch(document_id):
        raise HTTPException(404, "no such document")
    try:
        await state.knowledge.delete(business_id, document_id)
    except KnowledgeUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    return RedirectResponse(f"{PREFIX}/businesses/{business_id}/knowledge", status_code=303)
