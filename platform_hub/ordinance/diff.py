"""What changed between two versions of the ordinance's tables: the rules added, removed and changed.

A rule is the same rule in both versions when it has the same code (the rule's id within its version,
which an amendment keeps for a row it leaves or rewrites); it changed when any of what it says — its
kind, organs, 事務, category, unit, article or text — differs.
"""

from __future__ import annotations

from dataclasses import dataclass

from platform_hub.ordinance.schemas import OrdinanceOut, RuleIn, RuleOut

# What a rule says: every field of the file's rule but its code (what pairs the two versions' rules).
RULE_FIELDS = tuple(name for name in RuleIn.model_fields if name != "code")


@dataclass(frozen=True)
class Change:
    """One field of a rule that differs: its value in the older version and in the newer."""

    name: str
    before: object
    after: object


@dataclass(frozen=True)
class ChangedRule:
    code: str
    before: RuleOut
    after: RuleOut
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class VersionDiff:
    """From version ``a`` to version ``b``: rules only in ``b`` (added), only in ``a`` (removed),
    and in both with a difference (changed), each by code."""

    a: str
    b: str
    added: tuple[RuleOut, ...]
    removed: tuple[RuleOut, ...]
    changed: tuple[ChangedRule, ...]
    unchanged: int

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff(a: OrdinanceOut, b: OrdinanceOut) -> VersionDiff:
    """The rules added, removed and changed from ``a`` to ``b``, each list in code order."""
    before = {rule.code: rule for rule in a.rules}
    after = {rule.code: rule for rule in b.rules}
    changed = []
    for code in sorted(before.keys() & after.keys()):
        changes = tuple(
            Change(name, getattr(before[code], name), getattr(after[code], name))
            for name in RULE_FIELDS
            if getattr(before[code], name) != getattr(after[code], name)
        )
        if changes:
            changed.append(ChangedRule(code, before[code], after[code], changes))
    return VersionDiff(
        a=a.version,
        b=b.version,
        added=tuple(after[code] for code in sorted(after.keys() - before.keys())),
        removed=tuple(before[code] for code in sorted(before.keys() - after.keys())),
        changed=tuple(changed),
        unchanged=len(before.keys() & after.keys()) - len(changed),
    )
