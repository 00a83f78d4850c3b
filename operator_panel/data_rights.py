"""Admin-only data rights in the panel: export a contact's data, erase a contact, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from bot.core import data_rights
from bot.core.documents import Operator
from bot.core.operator_actions import operator_actor
from operator_panel.auth import core_of, current_operator, require_admin


async def admin_reader(operator: Annotated[Operator, Depends(current_operator)]) -> Operator:
    """FastAPI dependency for admin-only reads (no CSRF token: nothing changes)."""
    if operator.role != "admin":
        raise HTTPException(403, "only an admin may do this")
    return operator


AdminReader = Annotated[Operator, Depends(admin_reader)]
Admin = Annotated[Operator, Depends(require_admin)]


class ErasureView(BaseModel):
    erased: dict[str, int]


class AuditEntryView(BaseModel):
    id: str
    action: str
    actor: str
    subject: str | None
    details: dict[str, Any]
    created_at: datetime


class AuditLog(BaseModel):
    items: list[AuditEntryView]


def build_data_rights_router() -> APIRouter:
    router = APIRouter(prefix="/api", tags=["data rights"])

    @router.get("/contacts/{contact_id}/export")
    async def export(contact_id: str, request: Request, operator: AdminReader) -> dict[str, Any]:
        try:
            return await data_rights.export_contact(
                core=core_of(request), contact_id=contact_id, actor=operator_actor(operator)
            )
        except data_rights.ContactNotFound as exc:
            raise HTTPException(404, str(exc)) from None

    @router.post("/contacts/{contact_id}/erase", response_model=ErasureView)
    async def erase(contact_id: str, request: Request, operator: Admin) -> ErasureView:
        try:
            erased = await data_rights.erase_contact(
                core=core_of(request), contact_id=contact_id, actor=operator_actor(operator)
            )
        except data_rights.ContactNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        return ErasureView(erased=erased.as_dict())

    @router.get("/audit-log", response_model=AuditLog)
    async def audit(_: AdminReader, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> AuditLog:
        entries = await data_rights.audit_log(limit=limit)
        return AuditLog(
            items=[
                AuditEntryView(
                    id=str(e.id),
                    action=e.action,
                    actor=e.actor,
                    subject=e.subject,
                    details=e.details,
                    created_at=e.created_at,
                )
                for e in entries
            ]
        )

    return router
