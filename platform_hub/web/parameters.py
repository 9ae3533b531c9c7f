"""Query parameters an endpoint does not declare are refused (E1002), not ignored: ``?person=…`` for
``?integrated_number=…`` would otherwise answer with everything, as if unfiltered were asked for.

A router opts in with ``dependencies=[DeclaredParametersOnly]``; what an endpoint declares is read
from its FastAPI dependant (its own parameters and its dependencies'), once per route.
"""

from __future__ import annotations

from collections import Counter

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from platform_hub.audit.operations import masked
from platform_hub.protocol.errors import SchemaViolation

_declared: dict[int, frozenset[str]] = {}  # id(route) → its query parameters' names


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return names


def declared_parameters(route: APIRoute) -> frozenset[str]:
    found = _declared.get(id(route))
    if found is None:
        found = _declared[id(route)] = frozenset(_query_names(route.dependant))
    return found


async def declared_parameters_only(request: Request) -> None:
    """E1002 for a query parameter the endpoint does not declare, or one given twice (only one of
    the values would count). Names are echoed masked: a caller may type a My Number anywhere."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = declared_parameters(route)
    given = Counter(name for name, _ in request.query_params.multi_items())
    details = [
        f"query.{masked(name[:64])}: not a parameter of this endpoint"
        for name in given
        if name not in declared
    ]
    details += [
        f"query.{name}: given more than once" for name, n in given.items() if n > 1 and name in declared
    ]
    if details:
        raise SchemaViolation("the request does not match its schema", details=details)


DeclaredParametersOnly = Depends(declared_parameters_only)
