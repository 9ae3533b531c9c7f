from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.models import Client, Unit


async def get_client(session: AsyncSession, client_id: str) -> Client | None:
    return await session.get(Client, client_id)


def add_client(session: AsyncSession, client: Client) -> Client:
    session.add(client)
    return client


async def unit_of(session: AsyncSession, client: Client) -> Unit | None:
    """The unit a unit's client acts for (its registration gives the client's scopes)."""
    return await session.get(Unit, client.unit_code) if client.unit_code else None
