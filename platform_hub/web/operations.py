"""The operations record of one HTTP request, as a FastAPI dependency.

An endpoint names what it does (``expect``) as soon as it knows, and ``record``s it in the request's
transaction when it is done, so the entry commits with the work. When the endpoint refuses (a
``HubError``), the request's transaction rolls back: the dependency then writes the refusal in a
transaction of its own. Declare ``Ops`` before ``Session`` in an endpoint's parameters, so that the
request's session is closed (its SQLite write turn given back) before the refusal is written.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.audit.operations import Actor, record_operation, record_refusal
from platform_hub.auth.service import Principal
from platform_hub.models import OperationOutcome
from platform_hub.protocol.errors import HubError, SchemaViolation
from platform_hub.web.security import CurrentPrincipal
from platform_hub.web.state import HubState, get_state

# The clerk behind a request, as a unit names them (what RequestSourceUnitCode and RequestSourceUserID
# say in a linkage message): half-width, as long as the message header's items.
CLERK_HEADERS = {"x-department": ("department", 16), "x-clerk": ("clerk", 32)}
_HALF_WIDTH = re.compile(r"[!-~]+")


@dataclass
class OperationLog:
    state: HubState
    principal: Principal
    actor: Actor
    action: str | None = None
    subject: str | None = None
    parameters: dict[str, object] = field(default_factory=dict)

    def expect(self, action: str, /, *, subject: str | None = None, **parameters: object) -> None:
        """What this request does, recorded as refused should it fail from here on."""
        self.action, self.subject = action, subject
        self.parameters.update(parameters)

    async def record(
        self,
        session: AsyncSession,
        *,
        subject: str | None = None,
        detail: str | None = None,
        outcome: OperationOutcome = OperationOutcome.OK,
        action: str | None = None,
    ) -> None:
        """The entry, in the request's transaction; ``subject`` and ``action`` default to what was
        expected (a request that touched several persons records each with its own ``subject``)."""
        name = action or self.action
        assert name is not None, "expect() the action first"
        await record_operation(
            session,
            self.state.require_vault().record_key,
            self.actor,
            name,
            subject=subject or self.subject,
            outcome=outcome,
            detail=detail,
            parameters=self.parameters,
        )

    async def refused(self, error: HubError) -> None:
        """A refusal of what was expected, in a transaction of its own (the request's rolled back)."""
        if self.action is not None:
            await record_refusal(
                self.state, self.actor, self.action, error, subject=self.subject, parameters=self.parameters
            )


def actor_of(principal: Principal, headers: Mapping[str, str]) -> Actor:
    """The principal, with the clerk the caller names in ``X-Department`` / ``X-Clerk`` (E1002 when
    either is not half-width or too long: it is kept in the record)."""
    clerk: dict[str, str] = {}
    for header, (name, length) in CLERK_HEADERS.items():
        value = headers.get(header)
        if value is None:
            continue
        if len(value) > length or not _HALF_WIDTH.fullmatch(value):
            raise SchemaViolation(f"{header}: up to {length} half-width characters")
        clerk[name] = value
    return Actor(principal.client_id, principal.role, principal.unit_code, **clerk)


async def operation_log(request: Request, principal: CurrentPrincipal) -> AsyncIterator[OperationLog]:
    log = OperationLog(get_state(request), principal, actor_of(principal, request.headers))
    try:
        yield log
    except HubError as error:
        await log.refused(error)
        raise


Ops = Annotated[OperationLog, Depends(operation_log, scope="function")]
