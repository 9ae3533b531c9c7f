from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.models import Client


async def get_client(session: AsyncSession, client_id: str) -> Client | None:
    return await session.get(Client, client_id)


def add_client(session: AsyncSession, client: Client) -> Client:
    session.add(client)
    return client
