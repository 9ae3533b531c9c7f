"""Loading ordinance versions, and deciding whether the ordinance in force allows a transfer."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from platform_hub.kit.clock import city_today, city_zone
from platform_hub.kit.database import run_once
from platform_hub.kit.text import unstorable
from platform_hub.models import OrdinanceRule, OrdinanceVersion, RuleKind, Unit, generation
from platform_hub.ordinance import network, repository
from platform_hub.ordinance.network import NetworkRule, NetworkTable, bundled_network_table
from platform_hub.ordinance.schemas import ANY, OrdinanceIn, OrdinanceOut, RuleIn, RuleOut, VersionSummary
from platform_hub.protocol.catalog import Catalog
from platform_hub.protocol.errors import AlreadyExists, OrdinanceRefusal, SchemaViolation, UnknownTarget

# An ordinance takes effect on a day of the city's calendar (kit.clock.city_zone). The days a request
# may name: their starts in any zone must still be datetimes in UTC.
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(9998, 12, 31)


@dataclass(frozen=True)
class Decision:
    """The ordinance's answer for one transfer: the rule that allows it, or why nothing does; for a
    ``blanket`` rule, the row of the network table (第19条第8号) that brings the transfer within it."""

    rule: OrdinanceRule | None
    reason: str | None = None
    network: NetworkRule | None = None

    @property
    def rule_id(self) -> str | None:
        return rule_id(self.rule) if self.rule else None

    @property
    def purpose(self) -> str | None:
        """The 事務 the transfer was allowed for: the rule's, or for a blanket rule the network row's."""
        if self.network is not None:
            return self.network.purpose
        return self.rule.purpose_code if self.rule else None


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
    named = {rule.purpose for rule in ordinance.rules if rule.purpose is not None}
    unknown = sorted(named - set(catalog.purposes))
    if unknown:
        raise SchemaViolation(
            "the ordinance names 事務 the hub does not know",
            details=[f"unknown purpose {code} (interface_specs/purposes.yaml)" for code in unknown],
        )
    return ordinance


def version_of(ordinance: OrdinanceIn, digest: str, actor: str) -> OrdinanceVersion:
    """The version as it is stored (not yet added to a session)."""
    return OrdinanceVersion(
        version=ordinance.version,
        title=ordinance.title,
        enacted_on=ordinance.enacted,
        effective_on=ordinance.effective,
        source_digest=digest,
        loaded_by=actor,
        rules=[
            OrdinanceRule(
                **rule.model_dump(exclude={"purpose", "category"}),
                purpose_code=rule.purpose or ANY,  # a blanket row: the network table's 事務
                category=rule.category or ANY,
            )
            for rule in ordinance.rules
        ],
    )


async def load(
    session: AsyncSession, ordinance: OrdinanceIn, source: str | bytes, actor: str
) -> OrdinanceVersion:
    """Store a new version; versions are never changed or replaced, a later one supersedes them."""
    if await repository.by_version(session, ordinance.version) is not None:
        raise AlreadyExists(f"ordinance version {ordinance.version} is loaded already")
    raw = source.encode() if isinstance(source, str) else source
    version = version_of(ordinance, hashlib.sha256(raw).hexdigest(), actor)
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
    # (version id, receiving organ, category, holding organ) → the rules there, by id; a blanket
    # rule's category is ANY
    rules: dict[tuple[int, str, str, str], tuple[OrdinanceRule, ...]]
    # 番号法 第19条第8号's table: what bounds a blanket rule, and what the network gateway checks
    network: NetworkTable = field(default_factory=bundled_network_table)

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

    def blanket_clause(self, version: OrdinanceVersion, organ: str) -> OrdinanceRule | None:
        """The version's blanket clause for ``organ``, if it has one."""
        rows = self.rules.get((version.id, organ, ANY, organ), ())
        return next((r for r in rows if r.kind == RuleKind.BLANKET), None)

    def blanket(
        self, version: OrdinanceVersion, organ: str, purposes: Sequence[str], category: str
    ) -> tuple[OrdinanceRule, NetworkRule] | None:
        """The version's blanket clause for ``organ``, with the network table's row that makes
        ``category`` a 利用特定個人情報 of one of ``purposes`` (a 法定事務); None when either is missing."""
        clause = self.blanket_clause(version, organ)
        if clause is None:
            return None
        row = next((r for p in purposes if (r := self.network.rule(p, category)) is not None), None)
        return (clause, row) if row is not None else None


async def rulebook(session: AsyncSession, network: NetworkTable | None = None) -> Rulebook:
    return rulebook_of(await repository.all_versions(session), network)


def rulebook_of(versions: Sequence[OrdinanceVersion], network: NetworkTable | None = None) -> Rulebook:
    """The rulebook of versions read with their rules (the network table: the bundled one by default)."""
    rules: dict[tuple[int, str, str, str], list[OrdinanceRule]] = {}
    for version in versions:
        for rule in version.rules:
            key = (version.id, rule.receiving_organ, rule.category, rule.holding_organ)
            rules.setdefault(key, []).append(rule)
    found_rules = {key: tuple(found) for key, found in rules.items()}
    return Rulebook(tuple(versions), found_rules, network or bundled_network_table())


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
    version in force at ``at`` that lets the receiving organ, for one of ``purposes``, receive
    ``category`` held by that organ and unit; or, when there is none, why not.

    The most specific basis wins: a row of the ordinance's tables — use (the same organ: 番号法
    第9条第2項) or provide (another organ: 第19条第11号) —, then a statute that requires the flow, then
    (within one organ) the blanket clause for 法定事務, when the network table lets one of ``purposes``
    obtain ``category`` (第19条第8号). The clause's proviso — not where the information is to come
    from another 個人番号利用事務実施者 through the network — is the unit's to honour: the hub sees only
    transfers inside the city, where the information is the organ's own.
    """
    version = book.in_force(at)
    if version is None:
        return Decision(None, f"no ordinance version is in force on {local_day(at)}")
    if not purposes:
        return Decision(None, f"no 事務 named for the receiving unit of {receiving_organ}")
    same_organ = receiving_organ == holding_organ
    kind = RuleKind.USE if same_organ else RuleKind.PROVIDE
    found = book.matching(version, receiving_organ, purposes, category, holding_organ, holding_unit)
    for wanted in (kind, RuleKind.STATUTE):
        rule = next((r for r in found if r.kind == wanted), None)
        if rule is not None:
            return Decision(rule)
    clause = book.blanket(version, receiving_organ, purposes, category) if same_organ else None
    if clause is not None:
        return Decision(clause[0], network=clause[1])
    article = "第9条第2項" if kind == RuleKind.USE else "第19条第11号"
    beyond = (
        "; its blanket clause for 法定事務 reaches only what 番号法 第19条第8号 lets the 事務 obtain "
        "through the network"
        if same_organ and book.blanket_clause(version, receiving_organ)
        else ""
    )
    return Decision(
        None,
        f"ordinance {version.version} has no rule ({kind}, 番号法 {article}) nor statute for "
        f"{receiving_organ} / {', '.join(purposes)} to receive {category} from "
        f"{holding_organ} ({holding_unit}){beyond}",
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


def network_allowed(
    book: Rulebook, purpose: str, category: str, *, provider: str | None = None
) -> NetworkRule:
    """The check before any network 照会 or 提供 (番号法 第19条第8号), by the rulebook's table — the
    configuration snapshot's, as ``authorize`` is for the city's own transfers: the row that lets the
    照会者's ``purpose`` obtain ``category`` (from ``provider``, when the hub answers as one);
    OrdinanceRefusal (E3001) when there is none."""
    return network.network_allowed(book.network, purpose, category, provider=provider)


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


def _blanket_category(rule: OrdinanceRule) -> dict[str, str | None]:
    return {"category": None} if rule.category == ANY else {}


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
                purpose=None if r.purpose_code == ANY else r.purpose_code,
                **{name: getattr(r, name) for name in _RULE_COLUMNS} | _blanket_category(r),
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
