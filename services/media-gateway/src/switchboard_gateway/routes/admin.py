"""The admin API for businesses (``Authorization: Bearer $GATEWAY_ADMIN_TOKEN``).

Writes go to the KV bucket through :class:`~switchboard_common.business_store.BusinessStore`;
every gateway, agent and knowledge service picks a change up through its live directory, so
it applies to the next call. Concurrency is optimistic: ``GET`` returns the business's
revision (also as ``ETag``), and ``PUT``/``DELETE`` send it back in ``If-Match``; a write
based on an older revision answers 409. ``If-Match: *`` overwrites whatever is there.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from switchboard_common.business import BusinessProfile
from switchboard_common.business_store import (
    BusinessExists,
    BusinessNotFound,
    BusinessStoreError,
    NumberConflict,
    RevisionConflict,
    StoredBusiness,
)
from switchboard_common.http_api import problems
from switchboard_common.ids import TOKEN_PATTERN

from .deps import Context

_bearer = HTTPBearer(auto_error=False, description="GATEWAY_ADMIN_TOKEN")


def _authorised(
    ctx: Context, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    token = ctx.settings.admin_token.get_secret_value()
    if creds is None or not secrets.compare_digest(creds.credentials.encode(), token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token (GATEWAY_ADMIN_TOKEN) is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


router = APIRouter(
    prefix="/admin/businesses",
    tags=["admin"],
    dependencies=[Depends(_authorised)],
    responses=problems(400, 401, 503),
)


class BusinessDocument(BaseModel):
    """A business with the revision to send back in ``If-Match`` when changing it."""

    revision: int
    business: BusinessProfile


#: A business id in the URL: one subject token, so a malformed one is a 422 like a bad body.
BusinessIdPath = Annotated[
    str, Path(pattern=TOKEN_PATTERN, description="Letters, digits, _ and -; 1 to 64.")
]

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        pattern=r'^\s*(\*|(W/)?"*[0-9]{1,19}"*)\s*$',
        description='The revision read (the ETag, e.g. "7"), or * to overwrite any revision.',
    ),
]

_CONFLICT = problems(409, s409="Number owned by another business, or stale revision")
_NOT_FOUND = problems(404)


def _document(stored: StoredBusiness, response: Response) -> BusinessDocument:
    response.headers["ETag"] = f'"{stored.revision}"'
    return BusinessDocument(revision=stored.revision, business=stored.profile)


def _revision(if_match: str | None) -> int | None:
    """``If-Match`` (already matched against :data:`IfMatch`'s pattern) as a revision; None
    for ``*``."""
    if if_match is None or if_match.strip() == "*":
        return None
    return int(if_match.strip().removeprefix("W/").strip('"'))


def _refused(exc: BusinessStoreError) -> HTTPException:
    if isinstance(exc, BusinessNotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, NumberConflict | RevisionConflict | BusinessExists):
        return HTTPException(409, str(exc))
    return HTTPException(400, str(exc))


@router.get("", summary="Every business")
async def list_businesses(ctx: Context) -> list[BusinessDocument]:
    return [
        BusinessDocument(revision=s.revision, business=s.profile)
        for s in await ctx.businesses.list()
    ]


@router.post(
    "",
    summary="Create a business",
    status_code=status.HTTP_201_CREATED,
    responses=_CONFLICT,
)
async def create_business(
    business: BusinessProfile, ctx: Context, response: Response
) -> BusinessDocument:
    try:
        stored = await ctx.businesses.create(business)
    except BusinessStoreError as exc:
        raise _refused(exc) from exc
    response.headers["Location"] = f"/admin/businesses/{business.business_id}"
    return _document(stored, response)


@router.get("/{business_id}", summary="One business", responses=_NOT_FOUND)
async def get_business(
    business_id: BusinessIdPath, ctx: Context, response: Response
) -> BusinessDocument:
    stored = await ctx.businesses.get(business_id)
    if stored is None:
        raise HTTPException(404, f"no business {business_id!r}")
    return _document(stored, response)


@router.put(
    "/{business_id}",
    summary="Create or replace a business",
    responses={
        **_CONFLICT,
        201: {"model": BusinessDocument, "description": "Created"},
        **problems(428, s428="The business exists: send If-Match"),
    },
)
async def put_business(
    business_id: BusinessIdPath,
    business: BusinessProfile,
    ctx: Context,
    response: Response,
    if_match: IfMatch = None,
) -> BusinessDocument:
    if business.business_id != business_id:
        raise HTTPException(
            400, f"business_id {business.business_id!r} does not match the URL ({business_id!r})"
        )
    revision = _revision(if_match)
    if if_match is None:
        current = await ctx.businesses.get(business_id)
        if current is not None:
            raise HTTPException(
                428,
                f"business {business_id!r} exists (revision {current.revision}): send "
                f'If-Match: "{current.revision}" with the revision you edited, or * to '
                "overwrite",
            )
        revision = 0
    try:
        stored = await ctx.businesses.put(business, revision)
    except BusinessStoreError as exc:
        raise _refused(exc) from exc
    if revision == 0:
        response.status_code = status.HTTP_201_CREATED
    return _document(stored, response)


@router.delete(
    "/{business_id}",
    summary="Delete a business (its numbers become free)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_CONFLICT, **_NOT_FOUND},
)
async def delete_business(
    business_id: BusinessIdPath, ctx: Context, if_match: IfMatch = None
) -> Response:
    try:
        await ctx.businesses.delete(business_id, _revision(if_match))
    except BusinessStoreError as exc:
        raise _refused(exc) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
