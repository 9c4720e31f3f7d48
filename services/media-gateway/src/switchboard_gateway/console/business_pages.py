"""Businesses: the list, a new business, the whole profile's settings form (revision-checked,
errors beside their fields), and the business's console logins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from switchboard_common.business import BusinessProfile
from switchboard_common.business_store import (
    BusinessExists,
    BusinessStoreError,
    NumberConflict,
    RevisionConflict,
)
from switchboard_common.ids import TOKEN_RE
from switchboard_common.messages import ConsoleLogin

from ..routes.deps import Context
from .auth import ADMIN_LOGIN, MIN_PASSWORD_LENGTH, Principal, hash_password
from .deps import Admin, SignedIn, State, visible
from .profile_form import TOOLS, defaults, field_errors, form_values, profile_data, with_unshown
from .view import PREFIX, page

router = APIRouter()


@router.get("/businesses", response_class=HTMLResponse)
async def businesses(request: Request, ctx: Context, principal: SignedIn) -> Response:
    if principal.business_id is not None:
        return RedirectResponse(f"{PREFIX}/businesses/{principal.business_id}", status_code=303)
    stored = await ctx.businesses.list()
    return page(request, "businesses.html", principal, businesses=stored)


def _form(
    request: Request,
    principal: Principal,
    *,
    new: bool,
    values: dict[str, str],
    revision: int = 0,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    logins: list[ConsoleLogin] | None = None,
    notice: str = "",
) -> HTMLResponse:
    return page(
        request,
        "business.html",
        principal,
        status_code=status_code,
        new=new,
        v=values,
        tools=TOOLS,
        revision=revision,
        errors=errors or {},
        logins=logins or [],
        notice=notice,
    )


@router.get("/businesses/new", response_class=HTMLResponse)
async def new_business(request: Request, principal: Admin) -> HTMLResponse:
    return _form(request, principal, new=True, values=defaults())


def _refusal(exc: BusinessStoreError) -> dict[str, str]:
    if isinstance(exc, NumberConflict):
        return {"phone_numbers": str(exc)}
    if isinstance(exc, BusinessExists):
        return {"business_id": str(exc)}
    return {"": str(exc)}


async def _submitted(
    request: Request, stored: BusinessProfile | None = None
) -> tuple[dict[str, Any], BusinessProfile | None, Any]:
    """The submitted profile; over a ``stored`` one, what the form does not show is kept."""
    form = await request.form()
    data = profile_data(form)
    if stored is not None:
        data = with_unshown(data, stored)
    try:
        return data, BusinessProfile.model_validate(data), form
    except ValidationError as exc:
        return data, None, (form, field_errors(exc))


@router.post("/businesses/new", response_class=HTMLResponse)
async def create_business(request: Request, ctx: Context, principal: Admin) -> Response:
    data, profile, extra = await _submitted(request)
    if profile is None:
        _, errors = extra
        return _form(
            request, principal, new=True, values=form_values(data), errors=errors, status_code=422
        )
    try:
        await ctx.businesses.create(profile)
    except BusinessStoreError as exc:
        return _form(
            request,
            principal,
            new=True,
            values=form_values(data),
            errors=_refusal(exc),
            status_code=409,
        )
    return RedirectResponse(f"{PREFIX}/businesses/{profile.business_id}?saved=1", status_code=303)


async def _logins(state: State, principal: Principal, business_id: str) -> list[ConsoleLogin]:
    return await state.logins.of_business(business_id) if principal.is_admin else []


def _check(business_id: str, principal: Principal) -> None:
    if not TOKEN_RE.fullmatch(business_id):
        raise HTTPException(404, "not found")
    visible(principal, business_id)


@router.get("/businesses/{business_id}", response_class=HTMLResponse)
async def business(
    business_id: str,
    request: Request,
    ctx: Context,
    state: State,
    principal: SignedIn,
    saved: int = 0,
) -> HTMLResponse:
    _check(business_id, principal)
    stored = await ctx.businesses.get(business_id)
    if stored is None:
        raise HTTPException(404, "not found")
    return _form(
        request,
        principal,
        new=False,
        values=form_values(stored.profile),
        revision=stored.revision,
        logins=await _logins(state, principal, business_id),
        notice="Saved." if saved else "",
    )


@router.post("/businesses/{business_id}", response_class=HTMLResponse)
async def save_business(
    business_id: str, request: Request, ctx: Context, state: State, principal: SignedIn
) -> Response:
    _check(business_id, principal)
    stored = await ctx.businesses.get(business_id)
    data, profile, extra = await _submitted(request, stored.profile if stored else None)
    form = extra[0] if profile is None else extra
    raw_revision = form.get("revision", "")
    revision = int(raw_revision) if isinstance(raw_revision, str) and raw_revision.isdigit() else 0
    data["business_id"] = business_id
    logins = await _logins(state, principal, business_id)
    if profile is None:
        return _form(
            request,
            principal,
            new=False,
            values=form_values(data),
            revision=revision,
            errors=extra[1],
            logins=logins,
            status_code=422,
        )
    if profile.business_id != business_id:
        raise HTTPException(400, "the business id cannot change")
    try:
        await ctx.businesses.put(profile, revision)
    except RevisionConflict:
        current = await ctx.businesses.get(business_id)
        return _form(
            request,
            principal,
            new=False,
            values=form_values(data),
            revision=revision,
            errors={
                "": "Someone else saved this business since you opened it (now revision "
                f"{current.revision if current else '?'}). Your changes are below, not saved: "
                "reload the page to see theirs, then make your changes again."
            },
            logins=logins,
            status_code=409,
        )
    except BusinessStoreError as exc:
        return _form(
            request,
            principal,
            new=False,
            values=form_values(data),
            revision=revision,
            errors=_refusal(exc),
            logins=logins,
            status_code=409,
        )
    return RedirectResponse(f"{PREFIX}/businesses/{business_id}?saved=1", status_code=303)


@router.post("/businesses/{business_id}/logins", response_class=HTMLResponse)
async def add_login(
    business_id: str,
    request: Request,
    ctx: Context,
    state: State,
    principal: Admin,
    login: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    _check(business_id, principal)
    stored = await ctx.businesses.get(business_id)
    if stored is None:
        raise HTTPException(404, "not found")
    login = login.strip()
    error = ""
    if not TOKEN_RE.fullmatch(login) or login == ADMIN_LOGIN:
        error = "A login is 1 to 64 letters, digits, _ or -, and not 'admin'."
    elif len(password) < MIN_PASSWORD_LENGTH:
        error = f"A password has at least {MIN_PASSWORD_LENGTH} characters."
    else:
        existing = await state.logins.get(login)
        if existing is not None and existing.business_id != business_id:
            error = f"The login {login!r} is taken."
    if error:
        return _form(
            request,
            principal,
            new=False,
            values=form_values(stored.profile),
            revision=stored.revision,
            errors={"login": error},
            logins=await _logins(state, principal, business_id),
            status_code=422,
        )
    hashed = hash_password(password)
    await state.logins.put(ConsoleLogin(login=login, business_id=business_id, password_hash=hashed))
    return RedirectResponse(f"{PREFIX}/businesses/{business_id}#logins", status_code=303)


@router.post("/businesses/{business_id}/logins/{login}/delete")
async def delete_login(
    business_id: str, login: str, state: State, principal: Admin
) -> RedirectResponse:
    _check(business_id, principal)
    existing = await state.logins.get(login)
    if existing is not None and existing.business_id == business_id:
        await state.logins.delete(login)
    return RedirectResponse(f"{PREFIX}/businesses/{business_id}#logins", status_code=303)
