"""Two ordinance versions side by side (ordinance.diff): the rules added, removed and changed."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from platform_hub.ordinance.diff import RULE_FIELDS, Change, diff
from platform_hub.ordinance.schemas import OrdinanceIn, OrdinanceOut, RuleOut
from tests.test_ordinance import DEMO


def version(name: str, raw: dict[str, Any]) -> OrdinanceOut:
    """A version as ``ordinance.all_versions`` gives it, from the file's content."""
    parsed = OrdinanceIn.model_validate({**raw, "version": name})
    return OrdinanceOut(
        version=name,
        title=parsed.title,
        enacted=parsed.enacted,
        effective=parsed.effective,
        loaded_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        loaded_by="test",
        rules=[RuleOut(rule_id=f"{name}/{rule.code}", **rule.model_dump()) for rule in parsed.rules],
    )


def test_rules_added_removed_and_changed_by_code() -> None:
    newer = copy.deepcopy(DEMO)
    rules = {rule["code"]: rule for rule in newer["rules"]}
    first, second, *_ = sorted(rules)
    del rules[first]
    rules[second]["article"] = "別表第2 第99項"
    rules[second]["text"] = "改正後の事務"
    added = {**copy.deepcopy(rules[second]), "code": "NEW-1"}
    newer["rules"] = [*rules.values(), added]
    older_version, newer_version = version("2026-04", DEMO), version("2027-04", newer)

    found = diff(older_version, newer_version)
    assert (found.a, found.b) == ("2026-04", "2027-04") and not found.same
    assert [rule.code for rule in found.added] == ["NEW-1"]
    assert [rule.code for rule in found.removed] == [first]
    assert [rule.code for rule in found.changed] == [second]
    (changed,) = found.changed
    assert [(c.name, c.after) for c in changed.changes] == [
        ("article", "別表第2 第99項"),
        ("text", "改正後の事務"),
    ]
    assert changed.before.article != "別表第2 第99項"
    assert found.unchanged == len(DEMO["rules"]) - 2
    # Backwards, the same differences the other way round.
    back = diff(newer_version, older_version)
    assert [r.code for r in back.added] == [first] and [r.code for r in back.removed] == ["NEW-1"]
    assert back.changed[0].changes[0] == Change("article", "別表第2 第99項", changed.before.article)


def test_a_version_against_itself_is_the_same() -> None:
    one = version("2026-04", DEMO)
    same = diff(one, one)
    assert same.same and same.unchanged == len(DEMO["rules"])
    assert "code" not in RULE_FIELDS and "rule_id" not in RULE_FIELDS  # the version's own id differs
