from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.models import Client, Unit


async def get_client(session: AsyncSession, client_id: str) -> Client | None:
    return await session.get(Client, client_id)


async def list_clients(session: AsyncSession, role: str | None) -> Sequence[Client]:
    query = select(Client).order_by(Client.created_at, Client.client_id)
    if role is not None:
        query = query.where(Client.role == role)
    return (await session.scalars(query)).all()


async def clients_of_unit(session: AsyncSession, unit_code: str) -> Sequence[Client]:
    """A unit's clients, the one made at its registration first."""
    query = select(Client).where(Client.unit_code == unit_code).order_by(Client.created_at, Client.client_id)
    return (await session.scalars(query)).all()


def add_client(session: AsyncSession, client: Client) -> Client:
    session.add(client)
    return client


async def unit_of(session: AsyncSession, client: Client) -> Unit | None:
    """The unit a unit's client acts for (its registration gives the client's scopes)."""
    return await session.get(Unit, client.unit_code) if client.unit_code else None
