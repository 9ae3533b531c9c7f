"""The hub's addressee registry (統一宛名) as one unit uses it: find a person, link the unit's own
宛名番号 to them, register a 住登外者. Requests and answers are the hub's own schemas."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from platform_hub.protocol.registry import (
    BasicInfo,
    Candidate,
    NumberingOut,
    PersonOut,
    PersonRegistration,
    ResidentStatus,
    SearchRequest,
    Sex,
)
from platform_hub_sdk.auth import TokenSource
from platform_hub_sdk.hub import HubConnection

Tokens = Callable[[], Awaitable[TokenSource]]


class Registry:
    """Search, link and register over ``/addressees``, always for the unit ``unit_code`` and its 事務
    ``purpose`` (the hub decides every answer by the ordinance for it, and records it)."""

    def __init__(
        self, hub: Callable[[], HubConnection], tokens: Tokens, unit_code: str, purpose: str
    ) -> None:
        self._hub, self._tokens, self.unit_code, self.purpose = hub, tokens, unit_code, purpose

    async def _call(self, method: str, path: str, body: object = None) -> object:
        return await self._hub().call(method, path, await self._tokens(), body)

    async def search(self, request: SearchRequest) -> list[Candidate]:
        """Ranked candidates (by My Number, or by 氏名 and 生年月日 exact or partial, history included)."""
        asked = request.model_copy(update={"purpose_code": request.purpose_code or self.purpose})
        found = await self._call("POST", "/addressees/search", asked.model_dump(exclude_none=True))
        assert isinstance(found, list)
        return [Candidate.model_validate(candidate) for candidate in found]

    async def find_by_my_number(self, my_number: str) -> Candidate | None:
        found = await self.search(SearchRequest(my_number=my_number))
        return found[0] if found else None

    async def find_by_basic_info(
        self,
        name: str | None,
        birth_date: str,
        *,
        sex: Sex | None = None,
        address: str | None = None,
        family_name: str | None = None,
        given_name: str | None = None,
    ) -> list[Candidate]:
        """Exact 基本4情報 candidates; a name (氏名, or 氏 and/or 名 on their own) needs the birth date
        beside it (the registry's rule)."""
        request = SearchRequest(
            name=name,
            family_name=family_name,
            given_name=given_name,
            birth_date=birth_date,
            sex=sex,
            address=address,
        )
        return await self.search(request)

    async def person(self, integrated_number: str, *, with_my_number: bool = False) -> PersonOut:
        """A person this unit handles (linked to its own 宛名番号), by their person id (the
        団体内統合宛名番号 when they have one)."""
        query = f"?purpose={self.purpose}" + ("&with_my_number=true" if with_my_number else "")
        return PersonOut.model_validate(await self._call("GET", f"/addressees/{integrated_number}{query}"))

    async def link(
        self,
        integrated_number: str,
        atena_number: str,
        reason: str,
        *,
        my_number: str | None = None,
        name: str | None = None,
        birth_date: str | None = None,
    ) -> PersonOut:
        """Link our 宛名番号 to a person, on the evidence we have that it is them: the 個人番号, or the
        氏名 and 生年月日 we found them by."""
        evidence = {"my_number": my_number, "name": name, "birth_date": birth_date}
        body = {
            "unit_code": self.unit_code,
            "atena_number": atena_number,
            "reason": reason,
            "purpose_code": self.purpose,
            **{key: value for key, value in evidence.items() if value is not None},
        }
        return PersonOut.model_validate(
            await self._call("POST", f"/addressees/{integrated_number}/links", body)
        )

    async def request_numbering(self, person_id: str, my_number: str, reason: str) -> NumberingOut:
        """付番依頼: the 個人番号 of a person the registry knows without one. The 団体内統合宛名番号 is
        issued with it, or (another record holds that 個人番号) a 名寄せ is proposed to the office."""
        body = {"my_number": my_number, "reason": reason, "purpose_code": self.purpose}
        return NumberingOut.model_validate(
            await self._call("POST", f"/addressees/{person_id}/my-number", body)
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
        status: ResidentStatus = ResidentStatus.NON_RESIDENT,
        valid_from: dt.date | None = None,
        obtained_from_jukinet: bool = False,
    ) -> PersonOut:
        """Register a person under the unit's own 宛名番号: a 住登外者 as a rule (``status``);
        ``obtained_from_jukinet``: 本人確認情報 from 住基ネット, which the hub keeps for our 事務 alone."""
        registration = PersonRegistration(
            **info.model_dump(),
            obtained_from_jukinet=obtained_from_jukinet,
            unit_code=self.unit_code,
            atena_number=atena_number,
            my_number=my_number,
            status=status,
            valid_from=valid_from,
            reason=reason,
            purpose_code=self.purpose,
        )
        # Defaults left out: a hub from before the DA's 宛名 items takes what it knows.
        body = registration.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        answer = await self._call("POST", "/addressees", {**body, "unit_code": self.unit_code})
        return PersonOut.model_validate(answer)
