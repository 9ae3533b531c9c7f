"""One exception hierarchy for every error the hub answers, with the codes of the public contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class HubError(Exception):
    """An error with a contract code: a SOAP Fault on the linkage endpoint, JSON elsewhere."""

    code = "E0000"
    status_code = 500
    # RFC 6749 §5.2's error code (``invalid_client`` …), beside the hub's, on the OAuth endpoints.
    oauth_error: str | None = None
    default_headers: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[str] = (),
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        reception_number: str | None = None,
        soap_fault_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.headers = headers or dict(self.default_headers)
        self.reception_number = reception_number
        # SOAP 1.1's own fault code where one names the error (MustUnderstand, VersionMismatch);
        # otherwise the Fault says Client or Server by the status.
        self.soap_fault_code = soap_fault_code
        if status_code is not None:
            self.status_code = status_code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class MalformedMessage(HubError):
    """Not well-formed XML, a DTD or entity declared, too large or too deep."""

    code, status_code = "E1001", 400


class SchemaViolation(HubError):
    """The envelope, the payload or a JSON body fails its schema."""

    code, status_code = "E1002", 400


class UnknownTarget(HubError):
    """Unknown interface, message type, destination unit or resource."""

    code, status_code = "E1003", 404


class AlreadyExists(HubError):
    """A resource with this key exists already (a unit code, a client)."""

    code, status_code = "E1004", 409


class NotAuthenticated(HubError):
    """No token, or an invalid or expired one; bad client credentials."""

    code, status_code = "E2001", 401
    default_headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(HubError):
    """The caller is authenticated but may not do this (source binding, scope, role)."""

    code, status_code = "E2002", 403


class RateLimited(HubError):
    """The client sends faster than its rate limit allows; retry after ``Retry-After`` seconds."""

    code, status_code = "E2003", 429


class OrdinanceRefusal(HubError):
    """No ordinance rule in force lets this organ and 事務 use this category from that unit."""

    code, status_code = "E3001", 403


class AddresseeUnknown(HubError):
    """The addressee is unknown to the registry, or not linked in the receiving unit."""

    code, status_code = "E3002", 422


class DeliveryFailed(HubError):
    """The receiving unit failed (502) or timed out (504)."""

    code, status_code = "E4001", 502


class IdempotencyConflict(HubError):
    """The same MSGID was sent again with a different body."""

    code, status_code = "E4002", 409


class ServiceUnavailable(HubError):
    """The hub cannot serve right now (database down); retry later."""

    code, status_code = "E5001", 503


class InternalError(HubError):
    """A fault of the hub itself; the message was not accepted (the log has the details)."""

    code, status_code = "E5000", 500


# Every contract code with its class: read once this module has defined them, so nothing that
# subclasses HubError elsewhere (the SDK's LinkageError) is among them.
BY_CODE: dict[str, type[HubError]] = {error.code: error for error in HubError.__subclasses__()}


def database_unavailable(exc: Exception) -> ServiceUnavailable:
    """What a caller is told when the database fails under a request (details stay in the log)."""
    return ServiceUnavailable(
        f"the hub's database is unavailable ({type(exc).__name__}); retry later", headers={"Retry-After": "5"}
    )
