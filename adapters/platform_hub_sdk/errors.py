"""The one error a unit sees and raises: a refusal carrying a code of the public contract."""

from __future__ import annotations

from collections.abc import Sequence

from platform_hub.protocol.errors import HubError

# The HTTP status that goes with each code (DESIGN.md's table), for Faults a unit answers itself.
_STATUS = {
    "E1001": 400,
    "E1002": 400,
    "E1003": 404,
    "E1004": 409,
    "E2001": 401,
    "E2002": 403,
    "E3001": 403,
    "E3002": 422,
    "E4001": 502,
    "E4002": 409,
    "E5000": 500,
    "E5001": 503,
}


class LinkageError(HubError):
    """A refusal with its contract code (``E3001`` …): raised when the hub refuses what a unit sent,
    and raised by a handler to answer the hub with a SOAP Fault of that code."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status_code: int | None = None,
        reception_number: str | None = None,
        details: Sequence[str] = (),
    ) -> None:
        super().__init__(
            message,
            status_code=status_code or _STATUS.get(code, 500),
            reception_number=reception_number,
            details=details,
        )
        self.code = code
