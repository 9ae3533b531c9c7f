"""The hub's gateway to the national systems, as one unit uses it for its 個人番号利用事務: 住基ネット
(個人番号の真正性確認, 本人確認情報 and its 最新化, the 住所 on a 基準日) and the 情報提供ネットワーク
システム (符号取得, 情報照会 and its answer). Always in the unit's own 宛名番号: the hub holds the
団体内統合宛名番号, the 個人番号 and the link to the 符号; answers are the hub's JSON
(``/network`` in the OpenAPI)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

from platform_hub_sdk.errors import LinkageError
from platform_hub_sdk.hub import HubConnection
from platform_hub_sdk.registry import Tokens

Answer = dict[str, Any]
WAITING = "sent"  # a 情報照会 not answered yet (``pending``: the provider's operator has it)


class Network:
    """``/network`` for the unit, on behalf of its 事務 ``purpose``."""

    def __init__(self, hub: Callable[[], HubConnection], tokens: Tokens, purpose: str) -> None:
        self._hub, self._tokens, self.purpose = hub, tokens, purpose

    async def _post(self, path: str, **fields: Any) -> Answer:
        body = {"purpose": self.purpose, **fields}
        found = await self._hub().call("POST", f"/network/{path}", await self._tokens(), body)
        assert isinstance(found, dict)
        return found

    async def verify(self, my_number: str, *, name: str, birth_date: str, sex: str, address: str) -> Answer:
        """個人番号の真正性確認: ``{"authentic", "known", "differing"}``."""
        basic = {"name": name, "birth_date": birth_date, "sex": sex, "address": address}
        return await self._post("verifications", my_number=my_number, **basic)

    async def identity(self, atena: str, *, refresh: bool = False) -> Answer:
        """本人確認情報 as 住基ネット holds it; ``refresh``: a 住登外者's registry entry takes it."""
        return await self._post("identities", atena_no=atena, refresh=refresh)

    async def address_on(self, atena: str, day: dt.date) -> Answer:
        """The 住所 on the 基準日 ``day``, with its ``municipality_code`` (``found`` false: none)."""
        return await self._post("addresses", atena_no=atena, on=day.isoformat())

    async def obtain_code(self, atena: str) -> Answer:
        """符号取得: ``{"process_number", "status", "linked"}`` (the 符号 stays in the 中間サーバー)."""
        return await self._post("codes", atena_no=atena)

    async def ask(self, atena: str, *, provider: str, information: str, period: str) -> Answer:
        """情報照会 to ``provider`` (団体コード): its ``process_number`` (処理通番), ``status`` sent."""
        return await self._post(
            "inquiries", atena_no=atena, provider=provider, information=information, period=period
        )

    async def answer(self, process_number: str) -> Answer:
        found = await self._hub().call("GET", f"/network/inquiries/{process_number}", await self._tokens())
        assert isinstance(found, dict)
        return found

    async def wait_answer(
        self, process_number: str, *, within: float = 30.0, interval: float = 0.2
    ) -> Answer:
        """Poll until the 照会 is answered — or ``pending``, for a person at the provider to release."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (found := await self.answer(process_number))["status"] == WAITING:
            if loop.time() > deadline:
                raise LinkageError("E4001", f"情報照会 {process_number} not answered within {within:g} s")
            await asyncio.sleep(interval)
        return found
