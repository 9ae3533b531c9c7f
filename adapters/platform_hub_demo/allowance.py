"""児童手当 as in force since 2024-10-01 (児童手当法, as amended by 令和6年法律第47号): who is a
支給対象児童, who counts for the 多子加算, the monthly amount, and which parent receives. Pure: days in,
yen and choices out.

- **No 所得制限** (撤廃): income no longer limits or reduces the allowance.
- **支給対象児童**: a 児童 is a child until the first 31 March on or after the day they reach 18
  (高校生年代の終わり).
- **月額** per 支給対象児童: 15,000 円 under 3, 10,000 円 from 3 to the end of 高校生年代, and 30,000 円 at
  every age for the 第3子以降.
- **第3子 count (多子加算のカウント)**: the claimant's children are ranked eldest first among those up to
  the first 31 March on or after reaching 22 (22歳年度末) whom the claimant 監護し生計費を負担する; the
  older ones past 高校生年代 count towards the rank but receive nothing themselves.
- **受給者**: between two parents, the one who 生計を維持する程度が高い — the higher income of the
  基準日's 課税年度.

Ages follow 年齢計算ニ関スル法律 and 民法 第143条: one reaches an age at the end of the day before the
birthday (born 29 February: on 28 February). So a child born on 1 April reaches 18 on 31 March and
leaves that same day, with the 学年 of those born from 2 April of the year before — the 学校教育法
grouping (4/2–4/1) falls out of the rule, it is not a special case.

Months: the allowance is paid per month (児童手当法 第8条). A change in the amount that lowers it takes
effect from the month after the one in which its cause arose (第9条第3項): the 15,000 円 of a child
under 3 ends with the month in which they reach 3 — the 誕生月 for most, the month before it for a child
born on the 1st of a month. A month's amount is decided by the children as they are on its first day,
with the under-3 rate kept through the month in which they reach 3.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

UNDER_THREE, FROM_THREE, THIRD_CHILD = 15_000, 10_000, 30_000
CHILD_UNTIL_AGE, COUNTED_UNTIL_AGE, YOUNG_AGE = 18, 22, 3


def reaches_age(birth: dt.date, age: int) -> dt.date:
    """The day one born on ``birth`` reaches ``age``: the day before the birthday (民法 第143条; a
    birthday on 29 February falls on 1 March in a common year, so the age comes on 28 February)."""
    year = birth.year + age
    try:
        birthday = birth.replace(year=year)
    except ValueError:  # 29 February in a common year
        birthday = dt.date(year, 3, 1)
    return birthday - dt.timedelta(days=1)


def first_march_31_from(day: dt.date) -> dt.date:
    """The first 31 March on or after ``day`` (年度末)."""
    end = dt.date(day.year, 3, 31)
    return end if day <= end else dt.date(day.year + 1, 3, 31)


def child_until(birth: dt.date) -> dt.date:
    """The last day one is a 児童 (支給対象): the 31 March after reaching 18 — 高校生年代の終わり."""
    return first_march_31_from(reaches_age(birth, CHILD_UNTIL_AGE))


def counted_until(birth: dt.date) -> dt.date:
    """The last day one counts for the 第3子 rank: the 31 March after reaching 22 (22歳年度末)."""
    return first_march_31_from(reaches_age(birth, COUNTED_UNTIL_AGE))


def under_three_in(birth: dt.date, month: dt.date) -> bool:
    """Whether the 15,000 円 rate applies in ``month``: through the month in which the child reaches 3."""
    reached = reaches_age(birth, YOUNG_AGE)
    return (month.year, month.month) <= (reached.year, reached.month)


@dataclass(frozen=True)
class Child:
    """One of the claimant's children: the birth date, and whether the claimant 監護し生計費を負担する
    (what a child past 高校生年代 needs to count for the rank; a 児童 is claimed for only if so too)."""

    birth: dt.date
    supported: bool = True

    def is_child_on(self, day: dt.date) -> bool:
        return self.supported and self.birth <= day <= child_until(self.birth)

    def counts_on(self, day: dt.date) -> bool:
        return self.supported and self.birth <= day <= counted_until(self.birth)


@dataclass(frozen=True)
class Share:
    """What one 支給対象児童 brings in a month, and why."""

    child: Child
    rank: int  # 第N子 among those who count, eldest first
    amount: int

    @property
    def why(self) -> str:
        if self.amount == THIRD_CHILD:
            return f"第{self.rank}子（第3子以降）"
        return f"第{self.rank}子（{'3歳未満' if self.amount == UNDER_THREE else '3歳以上'}）"


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def shares(children: Sequence[Child], month: dt.date) -> list[Share]:
    """Each 支給対象児童's share of the allowance for ``month`` (its first day decides who is who)."""
    first = month_start(month)
    counted = sorted((c for c in children if c.counts_on(first)), key=lambda c: c.birth)
    found = []
    for rank, child in enumerate(counted, start=1):
        if not child.is_child_on(first):
            continue  # past 高校生年代: counts for the rank, receives nothing
        if rank >= 3:
            amount = THIRD_CHILD
        else:
            amount = UNDER_THREE if under_three_in(child.birth, first) else FROM_THREE
        found.append(Share(child, rank, amount))
    return found


def monthly_amount(children: Sequence[Child], month: dt.date) -> int:
    """The allowance for ``month``, in yen: no income limit applies."""
    return sum(share.amount for share in shares(children, month))


def first_paid_month(claimed_on: dt.date) -> dt.date:
    """支給 begins with the month after the 認定請求's (児童手当法 第8条第2項)."""
    return (month_start(claimed_on) + dt.timedelta(days=32)).replace(day=1)


def recipient(incomes: Mapping[str, int], claimant: str) -> str:
    """Which parent 生計を維持する程度が高い: the higher income of the 基準日's year. On equal incomes the
    claimant is taken (a choice of the demo: a real office looks at more than the income then)."""
    highest = max(incomes.values())
    return claimant if incomes.get(claimant) == highest else max(incomes, key=lambda who: incomes[who])
