"""The one error a unit sees and raises: a refusal carrying a code of the public contract."""

from __future__ import annotations

from collections.abc import Sequence

from platform_hub.protocol.errors import BY_CODE, HubError

# The HTTP status that goes with each code, for Faults a unit answers itself: the hub's own.
_STATUS = {code: error.status_code for code, error in BY_CODE.items()}


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
