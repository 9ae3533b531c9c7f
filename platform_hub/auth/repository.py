from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.kit.clock import utcnow
from platform_hub.models import Client, ClientAssertionUse, Unit


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


async def use_assertion(session: AsyncSession, client_id: str, jti: str, expires_at: dt.datetime) -> bool:
    """Keep a client assertion's jti until it expires; False if it was used before. Expired ones go
    first (an expired assertion is refused for its exp anyway). A concurrent use of the same jti in
    another replica waits for the first's commit (the primary key), then finds it."""
    await session.execute(delete(ClientAssertionUse).where(ClientAssertionUse.expires_at < utcnow()))
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(ClientAssertionUse).values(client_id=client_id, jti=jti, expires_at=expires_at)
    # RETURNING, not rowcount: psycopg's async cursor reports -1 for an INSERT … ON CONFLICT.
    kept = await session.execute(statement.on_conflict_do_nothing().returning(ClientAssertionUse.jti))
    return kept.first() is not None
