"""条例改正の影響: what a draft version of the ordinance — parsed, never stored, not in force — would
have changed over a past period, before the council votes on it.

The draft is replayed as if it had governed the whole period. Against it stand the versions that did
govern each transfer (``service.decide`` as at its moment, as the compliance re-check decides): a
transfer they allowed and the draft would not is one it *would refuse*; one the ordinance refused
(no rule then) that the draft would allow is one it *would allow*. The flows the registry sets up
(a unit receiving an interface's information from a holder) are decided too, as today's ordinance
and as the draft: which the draft leaves without a rule, which it newly covers. Everything here is
pure — the record is read, grouped by the database, by the caller (``audit.impact``) — and counts
per flow (unit × interface × 事務 × holding organ), never per transfer, with a few examples each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from platform_hub.models import OrdinanceVersion
from platform_hub.ordinance.network import NetworkTable
from platform_hub.ordinance.schemas import (
    ANY,
    CoverageOut,
    DraftOut,
    FlowChangeOut,
    FlowOut,
    ImpactExample,
    ImpactReport,
    OrdinanceIn,
    RuleChangeOut,
)
from platform_hub.ordinance.service import FIRST_DAY, Decision, Rulebook, decide, rulebook_of, version_of

DRAFT_ID = -1  # no stored version has it: the draft's rules are keyed apart from every loaded one
# The draft governs every moment: in effect from the first day a request may name, "loaded" before it.
_ALWAYS = dt.datetime.combine(FIRST_DAY, dt.time(), dt.UTC)


class ChangeKind(StrEnum):
    WOULD_REFUSE = "would_refuse"  # allowed then, no rule in the draft
    WOULD_ALLOW = "would_allow"  # refused by the ordinance then, a rule in the draft

    @property
    def ja(self) -> str:
        return {"would_refuse": "拒否になる", "would_allow": "許可になる"}[self.value]


def draft_rulebook(draft: OrdinanceIn, network: NetworkTable | None = None) -> Rulebook:
    """A rulebook of the draft alone, in force at every moment (its objects are in no session)."""
    version = version_of(draft, digest="draft", actor="draft")
    version.id, version.effective_on, version.loaded_at = DRAFT_ID, FIRST_DAY, _ALWAYS
    for number, rule in enumerate(version.rules, start=1):
        rule.id, rule.version_id = -number, DRAFT_ID
    return rulebook_of([version], network)


def draft_summary(draft: OrdinanceIn) -> DraftOut:
    return DraftOut(
        version=draft.version,
        title=draft.title,
        enacted=draft.enacted,
        effective=draft.effective,
        rules=len(draft.rules),
    )


@dataclass(frozen=True, order=True)
class Flow:
    """One flow of information: a receiving unit gets an interface's category from a holding unit, for
    its 事務 (one, as recorded; or every 事務 the registry gives a receiving unit)."""

    receiving_unit: str
    receiving_organ: str
    interface_id: str
    purposes: tuple[str, ...]
    category: str
    holding_unit: str
    holding_organ: str

    def out(self) -> FlowOut:
        return FlowOut(
            receiving_unit=self.receiving_unit,
            receiving_organ=self.receiving_organ,
            interface_id=self.interface_id,
            purposes=list(self.purposes),
            category=self.category,
            holding_unit=self.holding_unit,
            holding_organ=self.holding_organ,
        )


@dataclass(frozen=True)
class RecordedGroup:
    """The entries of the period's record of one flow, one outcome and one stretch of the rulebook.

    ``allowed``: provided or delivered, else refused. ``moment``: the start of the stretch (one version
    governs it all), None before any version. ``deciding``: the 事務 a decision is asked for — the
    recorded one; for a refused delivery, the receiving unit's own (what the hub asked about then)."""

    flow: Flow
    allowed: bool
    moment: dt.datetime | None
    entries: int
    deciding: tuple[str, ...]


def decisions(book: Rulebook, draft: Rulebook, group: RecordedGroup) -> tuple[Decision, Decision]:
    """The group's decision by the versions of its time, and by the draft."""
    if group.moment is None:
        then = Decision(None, "no ordinance version was in force")
    else:
        then = _decide(book, group.moment, group.flow, group.deciding)
    return then, _decide(draft, group.moment or _ALWAYS, group.flow, group.deciding)


def _decide(book: Rulebook, at: dt.datetime, flow: Flow, purposes: Sequence[str]) -> Decision:
    return decide(
        book,
        at,
        receiving_organ=flow.receiving_organ,
        purposes=list(purposes),
        category=flow.category,
        holding_organ=flow.holding_organ,
        holding_unit=flow.holding_unit,
    )


def change_of(then: Decision, draft: Decision, *, allowed: bool) -> ChangeKind | None:
    """What the draft changes for a transfer: refused where it was allowed under a rule; allowed where
    the ordinance refused it. A transfer allowed with no rule then (a compliance violation), or refused
    for another reason (an unknown addressee, a 事務 the unit is not registered for), it leaves alone."""
    if allowed and then.rule is not None and draft.rule is None:
        return ChangeKind.WOULD_REFUSE
    if not allowed and then.rule is None and draft.rule is not None:
        return ChangeKind.WOULD_ALLOW
    return None


@dataclass
class _Change:
    kind: ChangeKind
    flow: Flow
    entries: int = 0
    rules_before: set[str] = field(default_factory=set)
    rules_after: set[str] = field(default_factory=set)
    reasons: set[str] = field(default_factory=set)
    examples: list[ImpactExample] = field(default_factory=list)


class Replay:
    """The draft replayed over the period's record, a group at a time: memory grows with the flows
    that change, never with the transfers (each change keeps at most ``examples`` of them)."""

    def __init__(self, book: Rulebook, draft: Rulebook, *, examples: int = 5) -> None:
        self.book, self.draft, self.limit = book, draft, examples
        self.checked = 0
        self._changes: dict[tuple[ChangeKind, Flow], _Change] = {}

    def add(self, group: RecordedGroup) -> ChangeKind | None:
        """Count the group; the change it makes, if any (the caller may then give it ``example``s)."""
        self.checked += group.entries
        then, draft = decisions(self.book, self.draft, group)
        kind = change_of(then, draft, allowed=group.allowed)
        if kind is None:
            return None
        change = self._changes.setdefault((kind, group.flow), _Change(kind, group.flow))
        change.entries += group.entries
        if then.rule_id:
            change.rules_before.add(then.rule_id)
        if draft.rule_id:
            change.rules_after.add(draft.rule_id)
        reason = draft.reason if kind == ChangeKind.WOULD_REFUSE else then.reason
        if reason:
            change.reasons.add(reason)
        return kind

    def wanted(self, kind: ChangeKind, flow: Flow) -> int:
        """How many more examples the change still takes."""
        change = self._changes.get((kind, flow))
        return 0 if change is None else max(self.limit - len(change.examples), 0)

    def example(self, kind: ChangeKind, flow: Flow, example: ImpactExample) -> None:
        if self.wanted(kind, flow):
            self._changes[kind, flow].examples.append(example)

    def entries(self, kind: ChangeKind) -> int:
        return sum(c.entries for c in self._changes.values() if c.kind == kind)

    def changes(self) -> list[FlowChangeOut]:
        """Each change once per flow: the most transfers first."""
        found = sorted(self._changes.values(), key=lambda c: (c.kind, -c.entries, c.flow))
        return [
            FlowChangeOut(
                change=c.kind.value,
                flow=c.flow.out(),
                entries=c.entries,
                rules_before=sorted(c.rules_before),
                rules_after=sorted(c.rules_after),
                reasons=sorted(c.reasons),
                examples=sorted(c.examples, key=lambda e: e.entry_id),
            )
            for c in found
        ]


def coverage(
    book: Rulebook, draft: Rulebook, at: dt.datetime, flows: Iterable[Flow]
) -> tuple[list[CoverageOut], list[CoverageOut]]:
    """The registry's flows decided by the ordinance in force at ``at`` and by the draft: those the
    draft leaves without a rule (``rule_before`` names the rule they lose, if they had one), and
    those it newly covers."""
    uncovered, covered = [], []
    for flow in sorted(flows):
        now, then = _decide(book, at, flow, flow.purposes), _decide(draft, at, flow, flow.purposes)
        found = CoverageOut(flow=flow.out(), rule_before=now.rule_id, rule_after=then.rule_id, reason=None)
        if then.rule is None:
            uncovered.append(found.model_copy(update={"reason": then.reason}))
        elif now.rule is None:
            covered.append(found)
    return uncovered, covered


_COMPARED = (
    "kind",
    "receiving_organ",
    "purpose",
    "category",
    "holding_organ",
    "holding_unit",
    "article",
    "text",
)


def rule_changes(current: OrdinanceVersion | None, draft: OrdinanceIn) -> list[RuleChangeOut]:
    """The draft's rules against the version in force (by code): added, repealed, or amended."""

    def shown(values: dict[str, object]) -> dict[str, object]:
        return {name: values.get(name) for name in _COMPARED}

    before: dict[str, dict[str, object]] = {}
    for rule in current.rules if current is not None else ():
        purpose = None if rule.purpose_code == ANY else rule.purpose_code
        category = None if rule.category == ANY else rule.category
        values = {name: getattr(rule, name, None) for name in _COMPARED}
        before[rule.code] = shown(
            {**values, "kind": str(rule.kind), "purpose": purpose, "category": category}
        )
    after = {
        rule.code: shown(rule.model_dump(mode="json") | {"kind": str(rule.kind)}) for rule in draft.rules
    }
    found = []
    for code in sorted(before.keys() | after.keys()):
        if code not in after:
            change, values = "removed", before[code]
        elif code not in before:
            change, values = "added", after[code]
        elif before[code] != after[code]:
            change, values = "changed", after[code]
        else:
            continue
        found.append(RuleChangeOut.model_validate({"code": code, "change": change, **values}))
    return found


def touched(
    changes: Sequence[FlowChangeOut],
    uncovered: Sequence[CoverageOut],
    covered: Sequence[CoverageOut],
    rules: Sequence[RuleChangeOut] = (),
) -> tuple[list[str], list[str]]:
    """The units (receiving or holding) and the 事務 the draft reaches: of the transfers it changes,
    of the flows it newly leaves without a rule or newly covers, and those its amended rules name."""
    flows = (
        [c.flow for c in changes] + [c.flow for c in uncovered if c.rule_before] + [c.flow for c in covered]
    )
    units = {code for flow in flows for code in (flow.receiving_unit, flow.holding_unit)}
    units |= {rule.holding_unit for rule in rules if rule.holding_unit}
    purposes = {purpose for flow in flows for purpose in flow.purposes}
    purposes |= {rule.purpose for rule in rules if rule.purpose}
    return sorted(units), sorted(purposes)


def recorded_detail(report: ImpactReport) -> str:
    """What the operations record keeps of a replay, whoever asked (the API, the CLI, the console)."""
    return (
        f"draft {report.draft.version}: {report.checked} checked, {report.would_refuse} would be refused, "
        f"{report.would_allow} would be allowed, {len(report.uncovered)} flows without a rule"
    )
