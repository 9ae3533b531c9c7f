"""Which way a message received on ``/linkage/messages`` goes: a batch record by record, the rest whole."""

from __future__ import annotations

import io

from platform_hub.auth.service import Principal
from platform_hub.batches import service as batches
from platform_hub.linkage import service as linkage
from platform_hub.linkage.runtime import LinkageRuntime
from platform_hub.protocol.envelope import message_type_of
from platform_hub.protocol.specs import Pattern
from platform_hub.protocol.xml import read_off_loop


async def receive(
    state: LinkageRuntime, principal: Principal, body: bytes, binding: str = "soap", version: int = 1
) -> bytes:
    """Check one linkage message and route it; returns the ``_S01`` answer envelope. ``version``: the
    interface's, named by a REST path (a SOAP message is version 1)."""
    message_type = await read_off_loop(message_type_of, body, state.settings.xml_limits)
    found = state.catalog.by_message_type(message_type or "")
    if found is not None and found[0].spec.pattern == Pattern.BATCH:  # read record by record, never whole
        return await batches.receive_xml(state, principal, io.BytesIO(body))
    return await linkage.receive(state, principal, body, binding, version)
