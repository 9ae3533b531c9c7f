"""Loading ordinance versions, and deciding whether the ordinance in force allows a transfer."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import yaml
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.kit.clock import city_today, city_zone
from platform_hub.kit.database import run_once
from platform_hub.kit.text import unstorable
from platform_hub.models import OrdinanceRule, OrdinanceVersion, RuleKind, Unit, generation
from platform_hub.ordinance import repository
from platform_hub.ordinance.schemas import OrdinanceIn, OrdinanceOut, RuleIn, RuleOut, VersionSummary
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import AlreadyExists, OrdinanceRefusal, SchemaViolation, UnknownTarget

# An ordinance takes effect on a day of the city's calendar (kit.clock.city_zone). The days a request
# may name: their starts in any zone must still be datetimes in UTC.
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(9998, 12, 31)


@dataclass(frozen=True)
class Decision:
    """The ordinance's answer for one transfer: the rule that allows it, or why nothing does."""

    rule: OrdinanceRule | None
    reason: str | None = None

    @property
    def rule_id(self) -> str | None:
        return rule_id(self.rule) if self.rule else None


def rule_id(rule: OrdinanceRule) -> str:
    return f"{rule.version.version}/{rule.code}"


def local_day(moment: dt.datetime) -> dt.date:
    """The city's day at ``moment``."""
    return moment.astimezone(city_zone()).date()


def parse_ordinance(text: str | bytes, catalog: Catalog) -> OrdinanceIn:
    """Read an ordinance file (YAML or JSON); every problem is E1002 with its place."""
    try:
        raw = yaml.safe_load(text)
        if unstorable(raw):  # YAML's "\0" escapes make what no database stores
            raise SchemaViolation("the ordinance file holds a NUL character or a lone surrogate")
        ordinance = OrdinanceIn.model_validate(raw)
    except yaml.YAMLError as exc:
        raise SchemaViolation(f"the ordinance file is not YAML: {exc}") from None
    except RecursionError:  # PyYAML's composer recurses: a file nested thousands deep
        raise SchemaViolation("the ordinance file is nested too deep to be an ordinance") from None
    except ValidationError as exc:
        raise SchemaViolation(
            "the ordinance file does not match its schema",
            details=[f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()],
        ) from None
    unknown = sorted({rule.purpose for rule in ordinance.rules} - set(catalog.purposes))
    if unknown:
        raise SchemaViolation(
            "the ordinance names 事務 the hub does not know",
            details=[f"unknown purpose {code} (interface_specs/purposes.yaml)" for code in unknown],
        )
    return ordinance


async def load(
    session: AsyncSession, ordinance: OrdinanceIn, source: str | bytes, actor: str
) -> OrdinanceVersion:
    """Store a new version; versions are never changed or replaced, a later one supersedes them."""
    if await repository.by_version(session, ordinance.version) is not None:
        raise AlreadyExists(f"ordinance version {ordinance.version} is loaded already")
    raw = source.encode() if isinstance(source, str) else source
    version = OrdinanceVersion(
        version=ordinance.version,
        title=ordinance.title,
        enacted_on=ordinance.enacted,
        effective_on=ordinance.effective,
        source_digest=hashlib.sha256(raw).hexdigest(),
        loaded_by=actor,
        rules=[
            OrdinanceRule(**rule.model_dump(exclude={"purpose"}), purpose_code=rule.purpose)
            for rule in ordinance.rules
        ],
    )
    session.add(version)
    await session.flush()
    await generation.bump(session)  # every hub process decides by the new version from now on
    return version


@dataclass(frozen=True)
class Rulebook:
    """Every ordinance version with its rules, in memory: what every decision is made by — a message's
    and a registry answer's (the configuration's snapshot, shared by every request), and the
    compliance re-check's (one read in the re-check's own transaction).

    Its versions and rules may be detached snapshots shared by every request: read them, never change
    them or add them to a session.
    """

    versions: tuple[OrdinanceVersion, ...]
    # (version id, receiving organ, category, holding organ) → the rules there, by id
    rules: dict[tuple[int, str, str, str], tuple[OrdinanceRule, ...]]

    def in_force(self, at: dt.datetime) -> OrdinanceVersion | None:
        """The version that governs a transfer decided at ``at``: of those in effect on its day (the city's)
        and loaded by then — a version loaded today with an earlier effective day does not reach back
        over transfers already decided — the one that took effect last."""
        day = local_day(at)
        candidates = [v for v in self.versions if v.effective_on <= day and v.loaded_at <= at]
        return max(candidates, key=lambda v: (v.effective_on, v.id), default=None)

    def boundaries(self) -> list[dt.datetime]:
        """The moments at which the version in force can change, in time order: a version becomes a
        candidate at the later of its effective day's start (in the city) and its loading. From one boundary
        until the next ``in_force`` answers the same version; before the first, none."""
        return sorted({max(day_start(v.effective_on).astimezone(dt.UTC), v.loaded_at) for v in self.versions})

    def matching(
        self,
        version: OrdinanceVersion,
        receiving_organ: str,
        purposes: Sequence[str],
        category: str,
        holding_organ: str,
        holding_unit: str,
    ) -> list[OrdinanceRule]:
        """The version's rules for this receiving organ and 事務, category, holding organ and unit."""
        rules = self.rules.get((version.id, receiving_organ, category, holding_organ), ())
        return [r for r in rules if r.purpose_code in purposes and r.holding_unit in (None, holding_unit)]


async def rulebook(session: AsyncSession) -> Rulebook:
    versions = await repository.all_versions(session)
    rules: dict[tuple[int, str, str, str], list[OrdinanceRule]] = {}
    for version in versions:
        for rule in version.rules:
            key = (version.id, rule.receiving_organ, rule.category, rule.holding_organ)
            rules.setdefault(key, []).append(rule)
    return Rulebook(tuple(versions), {key: tuple(found) for key, found in rules.items()})


def decide(
    book: Rulebook,
    at: dt.datetime,
    *,
    receiving_organ: str,
    purposes: Sequence[str],
    category: str,
    holding_organ: str,
    holding_unit: str,
) -> Decision:
    """The ordinance's one decision, for every transfer the hub makes or re-checks: the rule of the
    version in force at ``at`` that lets the receiving organ, for one of ``purposes``, use (the same
    organ: 番号法 第9条第2項) or be provided (another organ: 第19条第11号) ``category`` held by that
    organ and unit; or, when there is none, why not."""
    version = book.in_force(at)
    if version is None:
        return Decision(None, f"no ordinance version is in force on {local_day(at)}")
    if not purposes:
        return Decision(None, f"no 事務 named for the receiving unit of {receiving_organ}")
    kind = RuleKind.USE if receiving_organ == holding_organ else RuleKind.PROVIDE
    for rule in book.matching(version, receiving_organ, purposes, category, holding_organ, holding_unit):
        if rule.kind == kind:
            return Decision(rule)
    article = "第9条第2項" if kind == RuleKind.USE else "第19条第11号"
    return Decision(
        None,
        f"ordinance {version.version} has no rule ({kind}, 番号法 {article}) for "
        f"{receiving_organ} / {', '.join(purposes)} to receive {category} from "
        f"{holding_organ} ({holding_unit})",
    )


def authorize(
    book: Rulebook,
    at: dt.datetime,
    *,
    receiver: Unit,
    holder: Unit,
    category: str,
    purposes: Sequence[str],
) -> Decision:
    """``decide`` for a transfer about to be made: the rule in force at ``at`` that lets ``receiver``,
    for one of ``purposes`` it is registered for, receive ``category`` from ``holder``;
    OrdinanceRefusal (E3001) when there is none."""
    registered = [purpose for purpose in purposes if purpose in receiver.purposes]
    if not registered:
        raise OrdinanceRefusal(
            f"unit {receiver.code} is not registered for the 事務 {', '.join(purposes) or '-'}"
        )
    decision = decide(
        book,
        at,
        receiving_organ=receiver.organ,
        purposes=registered,
        category=category,
        holding_organ=holder.organ,
        holding_unit=holder.code,
    )
    if decision.rule is None:
        raise OrdinanceRefusal(decision.reason or "refused by the ordinance")
    return decision


def day_start(day: dt.date) -> dt.datetime:
    """The first moment of a day in the city."""
    return dt.datetime.combine(day, dt.time(), city_zone())


async def rules_on(session: AsyncSession, day: dt.date) -> OrdinanceOut:
    """The version in force on ``day`` (the city's day), with every rule; E1003 when none is."""
    version = await repository.in_force(session, day, with_rules=True)
    if version is None:
        raise UnknownTarget(f"no ordinance version is in force on {day}")
    return version_out(version)


async def all_versions(session: AsyncSession) -> list[OrdinanceOut]:
    """Every version loaded, by effective day, with its rules."""
    return [version_out(version) for version in await repository.all_versions(session)]


# The rule fields the file and the table name alike (the file's ``purpose`` is the table's purpose_code).
_RULE_COLUMNS = [name for name in RuleIn.model_fields if name != "purpose"]


def version_out(version: OrdinanceVersion) -> OrdinanceOut:
    return OrdinanceOut(
        version=version.version,
        title=version.title,
        enacted=version.enacted_on,
        effective=version.effective_on,
        loaded_at=version.loaded_at,
        loaded_by=version.loaded_by,
        rules=[
            RuleOut(
                rule_id=rule_id(r),
                purpose=r.purpose_code,
                **{name: getattr(r, name) for name in _RULE_COLUMNS},
            )
            for r in version.rules
        ],
    )


async def versions(session: AsyncSession) -> list[VersionSummary]:
    """Every loaded version, by effective day, marking the one in force today."""
    today = await repository.in_force(session, city_today())
    return [
        VersionSummary(
            version=version.version,
            title=version.title,
            enacted=version.enacted_on,
            effective=version.effective_on,
            loaded_at=version.loaded_at,
            loaded_by=version.loaded_by,
            rules=rules,
            in_force=today is not None and version.id == today.id,
        )
        for version, rules in await repository.versions_with_rule_counts(session)
    ]


async def load_file(database_url: str, catalog: Catalog, source: bytes, actor: str) -> OrdinanceVersion:
    """Load an ordinance file's content straight into a database (tests and benchmarks)."""
    ordinance = parse_ordinance(source, catalog)
    return await run_once(database_url, lambda session: load(session, ordinance, source, actor))
