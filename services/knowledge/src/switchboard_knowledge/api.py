"""The knowledge service's HTTP API (token-protected): documents per business."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from switchboard_common.http_api import problems, tidy_openapi
from switchboard_common.knowledge import DocumentInfo, IngestReply, KnowledgeHit
from switchboard_common.lifecycle import Readiness

from .errors import KnowledgeError
from .jobs import Job, JobStore
from .service import KnowledgeService
from .settings import KnowledgeSettings

_bearer = HTTPBearer(auto_error=False)

CONTENT_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def create_api(
    service: KnowledgeService,
    settings: KnowledgeSettings,
    readiness: Readiness | None = None,
) -> FastAPI:
    """The HTTP API; ``readiness`` tells ``/readyz`` (503 while draining or off the bus)."""
    admin_token = settings.admin_token.get_secret_value()
    jobs = JobStore()

    def authorised(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if creds is None or not secrets.compare_digest(creds.credentials, admin_token):
            raise HTTPException(401, "a valid bearer token is required")

    router = APIRouter(
        dependencies=[Depends(authorised)], tags=["documents"], responses=problems(401)
    )
    #: What a business's documents can answer besides success (the domain's errors).
    business_problems = problems(
        400, 404, 503, s404="Unknown business, or no such document", s503="Vector store down"
    )

    @router.post(
        "/businesses/{business_id}/documents",
        summary="Upload a document (text, Markdown, HTML or PDF)",
        responses={
            200: {"description": "Indexed"},
            202: {"description": "Large upload: a job to poll at /jobs/{job_id}"},
            **business_problems,
            **problems(
                413, 415, s415="Not text, Markdown, HTML, PDF or DOCX (by type or file name)"
            ),
        },
    )
    async def upload(
        business_id: str,
        file: UploadFile,
        document_id: Annotated[str | None, Form()] = None,
        content_type: Annotated[str | None, Form()] = None,
    ) -> Any:
        data = await file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(413, f"documents are limited to {settings.max_upload_bytes} bytes")
        source = file.filename or "upload"
        kind = content_type or _guess_type(source, file.content_type)
        if kind is None:
            raise HTTPException(415, "send text/plain, text/markdown, text/html, a PDF or a DOCX")

        async def ingest(job: Job | None = None) -> IngestReply:
            return await service.ingest(
                business_id, source, kind, data, document_id, job.progress if job else None
            )

        if len(data) <= settings.sync_ingest_max_bytes:
            return (await ingest()).model_dump(mode="json")

        async def work(job: Job) -> dict[str, Any]:
            return (await ingest(job)).model_dump(mode="json")

        job = jobs.start(business_id, source, work)
        return JSONResponse(job.view(), status_code=202)

    @router.get(
        "/jobs/{job_id}",
        summary="An ingestion job's progress and result",
        responses=problems(404),
    )
    async def job_status(job_id: str) -> dict[str, Any]:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job")
        return job.view()

    @router.get(
        "/businesses/{business_id}/documents", summary="List documents", responses=business_problems
    )
    async def list_documents(business_id: str) -> list[DocumentInfo]:
        return await service.documents(business_id)

    @router.get(
        "/businesses/{business_id}/documents/{document_id}",
        summary="Fetch a document",
        responses=business_problems,
    )
    async def fetch(business_id: str, document_id: str) -> dict[str, Any]:
        info, chunks = await service.document(business_id, document_id)
        return {"document": info, "chunks": [_chunk_view(c) for c in chunks]}

    @router.delete(
        "/businesses/{business_id}/documents/{document_id}",
        summary="Delete a document",
        responses=business_problems,
    )
    async def delete(business_id: str, document_id: str) -> dict[str, bool]:
        if not await service.delete(business_id, document_id):
            raise HTTPException(404, "no such document")
        return {"deleted": True}

    @router.get(
        "/businesses/{business_id}/stats",
        summary="Documents, chunks and bytes stored",
        responses=business_problems,
    )
    async def stats(business_id: str) -> dict[str, int]:
        return await service.stats(business_id)

    app = FastAPI(
        title="Switchboard knowledge",
        version="0.1.0",
        summary="Each business's documents, chunked and embedded for the voice agent.",
    )
    app.include_router(router)

    @app.exception_handler(KnowledgeError)
    async def domain_error(request: Request, exc: KnowledgeError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "code": exc.code.value}, status_code=exc.http_status
        )

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        responses={503: {"description": "Draining, or off the bus: the same body, ready false"}},
    )
    async def readyz(response: Response) -> dict[str, Any]:
        body = readiness() if readiness is not None else {"ready": True}
        if not body.get("ready"):
            response.status_code = 503
        return body

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.openapi = tidy_openapi(app.openapi)  # type: ignore[method-assign]
    app.state.jobs = jobs
    return app


def _guess_type(filename: str, declared: str | None) -> str | None:
    if declared in CONTENT_TYPES.values():
        return declared
    suffix = filename[filename.rfind(".") :].lower() if "." in filename else ""
    return CONTENT_TYPES.get(suffix)


def _chunk_view(hit: KnowledgeHit) -> dict[str, Any]:
    return {"chunk_id": hit.chunk_id, "heading": hit.heading, "text": hit.text}
