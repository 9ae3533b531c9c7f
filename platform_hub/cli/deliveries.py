"""``platform-hub deliveries``: the queue of notifications to subscribers."""

from __future__ import annotations

from typing import Annotated

import typer

from platform_hub.cli.answers import MISUSED, CliError
from platform_hub.cli.common import console, run_in_database, run_recorded
from platform_hub.cli.listing import Cell, JsonOption, print_listing
from platform_hub.models import Delivery, DeliveryStatus

deliveries_app = typer.Typer(help="The queue of notifications to subscribers.", no_args_is_help=True)


@deliveries_app.command("list")
def deliveries_list(
    status: Annotated[
        DeliveryStatus | None, typer.Option(help="pending, delivered, refused or dead.")
    ] = None,
    unit: Annotated[str | None, typer.Option(help="The subscriber's unit code.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Deliveries, newest first."""
    from platform_hub.linkage import delivery_queue

    found = run_in_database(
        lambda session: delivery_queue.list_deliveries(session, status=status, unit=unit, limit=limit)
    )
    print_listing([_delivery_record(d) for d in found], DELIVERY_COLUMNS, as_json=as_json)


DELIVERY_COLUMNS: dict[str, Cell] = {
    "id": "id",
    "受付番号": "reception_number",
    "interface": "interface_id",
    "to": "subscriber_unit",
    "status": "status",
    "attempts": "attempts",
    "next / delivered": lambda d: d["delivered_at"] or d["next_attempt_at"],
    "last error": "last_error",
}


def _delivery_record(delivery: Delivery) -> dict[str, object]:
    return {
        "id": delivery.id,
        "reception_number": delivery.message.reception_number,
        "interface_id": delivery.message.interface_id,
        "subscriber_unit": delivery.subscriber_unit,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": delivery.delivered_at,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
    }


def _enqueue_again(
    statuses: list[DeliveryStatus], ids: list[int], reception: str | None, unit: str | None
) -> int:
    from platform_hub.linkage import delivery_queue

    if not (ids or reception or unit):
        raise CliError("name the deliveries: ids, --reception or --unit", MISUSED)
    again = run_recorded(
        lambda session: delivery_queue.enqueue_again(
            session, statuses=statuses, ids=ids, reception=reception, unit=unit
        ),
        "deliveries.retry" if statuses == [DeliveryStatus.DEAD] else "deliveries.replay",
        ids=",".join(map(str, ids)) or None,
        reception=reception,
        unit=unit,
    )
    return len(again)


@deliveries_app.command("retry")
def deliveries_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead deliveries' ids.")] = None,
    reception: Annotated[str | None, typer.Option(help="Those of one message (受付番号).")] = None,
    unit: Annotated[str | None, typer.Option(help="Those of one subscriber.")] = None,
) -> None:
    """Give dead deliveries a new set of attempts (at the back of each subscriber's queue)."""
    count = _enqueue_again([DeliveryStatus.DEAD], ids or [], reception, unit)
    console.print(f"{count} dead deliveries back in the queue", highlight=False)


@deliveries_app.command("replay")
def deliveries_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Delivered deliveries' ids.")] = None,
    reception: Annotated[str | None, typer.Option(help="Those of one message (受付番号).")] = None,
    unit: Annotated[str | None, typer.Option(help="Those of one subscriber.")] = None,
) -> None:
    """Deliver notifications again that were delivered (a subscriber that lost them); an SDK unit
    that already has one answers from its MSGID record without handling it twice."""
    count = _enqueue_again([DeliveryStatus.DELIVERED], ids or [], reception, unit)
    console.print(f"{count} deliveries queued again", highlight=False)
