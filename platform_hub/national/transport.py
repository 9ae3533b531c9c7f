"""The one HTTP client a national-system adapter holds, and how its failures read."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import httpx

from platform_hub.protocol.errors import DeliveryFailed


class NationalSystemError(DeliveryFailed):
    """A national system refused a call or could not be reached (``reason``: its error code, or the
    transport's failure). An answer that is itself a refusal (不開示, 照会 not allowed) is no error:
    it comes back as data."""

    def __init__(self, system: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{system}: {reason}" + (f" (HTTP {status})" if status else ""))
        self.system = system
        self.reason = reason
        self.status = status


class NationalClient:
    """An ``httpx.AsyncClient`` on one national system, with its bearer key."""

    system = "national system"

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def call(self, method: str, path: str, *, allow: tuple[int, ...] = (), **kwargs: Any) -> Any:
        """The answer's JSON; ``None`` for a status in ``allow`` (a 404 that means "none"), and a
        NationalSystemError for any other failure. Error texts are the system's codes, never bodies
        (which could hold a 個人番号 sent in the request)."""
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise NationalSystemError(self.system, type(exc).__name__) from None
        if response.status_code in allow:
            return None
        if response.status_code != 200:
            raise NationalSystemError(self.system, _error_code(response), response.status_code)
        return response.json()


def _error_code(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return "unreadable answer"
    if isinstance(detail, dict) and isinstance(detail.get("error"), str):
        return str(detail["error"])
    return "invalid request" if response.status_code == 422 else "error"
