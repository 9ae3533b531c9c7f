"""The hub's addressee registry (統一宛名) as one unit uses it: find a person, link the unit's own
宛名番号 to them, register a 住登外者. Requests and answers are the hub's own schemas."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from adapters.sdk.auth import TokenSource
from adapters.sdk.hub import HubConnection
from platform_hub.addressees.schemas import (
    BasicInfo,
    Candidate,
    PersonOut,
    PersonRegistration,
    SearchRequest,
    Sex,
    Status,
)

Tokens = Callable[[], Awaitable[TokenSource]]


class Registry:
    """Search, link and register over ``/addressees``, always for the unit ``unit_code``."""

    def __init__(self, hub: Callable[[], HubConnection], tokens: Tokens, unit_code: str) -> None:
        self._hub, self._tokens, self.unit_code = hub, tokens, unit_code

    async def _call(self, method: str, path: str, body: object = None) -> object:
        return await self._hub().call(method, path, await self._tokens(), body)

    async def search(self, request: SearchRequest) -> list[Candidate]:
        """Ranked candidates (by My Number, or by 基本4情報 exact or partial, history included)."""
        found = await self._call("POST", "/addressees/search", request.model_dump(exclude_none=True))
        assert isinstance(found, list)
        return [Candidate.model_validate(candidate) for candidate in found]

    async def find_by_my_number(self, my_number: str) -> Candidate | None:
        found = await self.search(SearchRequest(my_number=my_number))
        return found[0] if found else None

    async def find_by_basic_info(
        self, name: str, birth_date: str, *, sex: Sex | None = None, address: str | None = None
    ) -> list[Candidate]:
        """Exact 基本4情報 candidates; a name needs the birth date beside it (the registry's rule)."""
        return await self.search(SearchRequest(name=name, birth_date=birth_date, sex=sex, address=address))

    async def person(self, integrated_number: str) -> PersonOut:
        return PersonOut.model_validate(await self._call("GET", f"/addressees/{integrated_number}"))

    async def link(self, integrated_number: str, atena_number: str, reason: str) -> PersonOut:
        body = {"unit_code": self.unit_code, "atena_number": atena_number, "reason": reason}
        return PersonOut.model_validate(
            await self._call("POST", f"/addressees/{integrated_number}/links", body)
        )

    async def unlink(self, atena_number: str, reason: str) -> None:
        await self._call(
            "POST", f"/addressees/links/{self.unit_code}/{atena_number}/unlink", {"reason": reason}
        )

    async def register(
        self,
        info: BasicInfo,
        atena_number: str,
        *,
        reason: str,
        my_number: str | None = None,
        status: Status = "non_resident",
        valid_from: dt.date | None = None,
    ) -> PersonOut:
        """Register a person under the unit's own 宛名番号: a 住登外者 as a rule (``status``)."""
        registration = PersonRegistration(
            **info.model_dump(),
            unit_code=self.unit_code,
            atena_number=atena_number,
            my_number=my_number,
            status=status,
            valid_from=valid_from,
            reason=reason,
        )
        answer = await self._call(
            "POST", "/addressees", registration.model_dump(mode="json", exclude_none=True)
        )
        return PersonOut.model_validate(answer)
