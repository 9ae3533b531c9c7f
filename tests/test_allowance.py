"""児童手当 since 2024-10-01 (令和6年法律第47号): the demo's 審査 as a pure module, at its boundaries."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from platform_hub_demo.allowance import (
    FROM_THREE,
    THIRD_CHILD,
    UNDER_THREE,
    Child,
    child_until,
    counted_until,
    first_paid_month,
    monthly_amount,
    reaches_age,
    recipient,
    shares,
    under_three_in,
)
from platform_hub_demo.jidou_teate import Family, family_of, stated_children

D = dt.date


@pytest.mark.parametrize(
    ("birth", "age", "reached"),
    [
        (D(2010, 6, 15), 18, D(2028, 6, 14)),  # the day before the birthday
        (D(2008, 4, 1), 18, D(2026, 3, 31)),
        (D(2008, 4, 2), 18, D(2026, 4, 1)),
        (D(2008, 2, 29), 18, D(2026, 2, 28)),  # 29 February, a common year
        (D(2008, 2, 29), 16, D(2024, 2, 28)),  # a leap year: still the day before
        (D(2024, 1, 1), 3, D(2026, 12, 31)),
    ],
)
def test_one_reaches_an_age_the_day_before_the_birthday(birth: dt.date, age: int, reached: dt.date) -> None:
    assert reaches_age(birth, age) == reached


@pytest.mark.parametrize(
    ("birth", "last_day"),
    [
        (D(2008, 4, 1), D(2026, 3, 31)),  # 早生まれ: reaches 18 on 31 March, leaves that day
        (D(2008, 4, 2), D(2027, 3, 31)),  # the next 学年 (4/2–4/1): one more year
        (D(2007, 4, 2), D(2026, 3, 31)),  # the same 学年 as the one born on 2008-04-01
        (D(2008, 1, 15), D(2026, 3, 31)),
        (D(2008, 3, 31), D(2026, 3, 31)),
        (D(2008, 12, 31), D(2027, 3, 31)),
    ],
)
def test_a_child_is_one_until_the_first_31_march_after_reaching_18(birth: dt.date, last_day: dt.date) -> None:
    assert child_until(birth) == last_day
    child = Child(birth)
    assert child.is_child_on(last_day) and not child.is_child_on(last_day + dt.timedelta(days=1))


@given(st.dates(min_value=D(1990, 1, 1), max_value=D(2030, 12, 31)))
def test_children_of_one_school_year_leave_together(birth: dt.date) -> None:
    """学校教育法's 学年: born 2 April to 1 April the next year leave on the same 31 March."""
    school_year = birth.year if (birth.month, birth.day) >= (4, 2) else birth.year - 1
    assert child_until(birth) == D(school_year + 19, 3, 31)
    assert counted_until(birth) == D(school_year + 23, 3, 31)


@pytest.mark.parametrize(
    ("birth", "last_day"),
    [(D(2004, 4, 1), D(2026, 3, 31)), (D(2004, 4, 2), D(2027, 3, 31)), (D(2003, 9, 9), D(2026, 3, 31))],
)
def test_a_child_counts_for_the_rank_until_the_22歳年度末(birth: dt.date, last_day: dt.date) -> None:
    assert counted_until(birth) == last_day
    child = Child(birth)
    assert child.counts_on(last_day) and not child.counts_on(last_day + dt.timedelta(days=1))
    assert not Child(birth, supported=False).counts_on(last_day)  # not 監護・生計費負担: no count


@pytest.mark.parametrize(
    ("birth", "last_month_under_three"),
    [
        (D(2023, 5, 15), D(2026, 5, 1)),  # the 誕生月 still at 15,000 円
        (D(2023, 5, 31), D(2026, 5, 1)),
        (D(2023, 5, 2), D(2026, 5, 1)),
        (D(2023, 5, 1), D(2026, 4, 1)),  # born on the 1st: reaches 3 on 30 April, so April is the last
        (D(2023, 3, 1), D(2026, 2, 1)),  # reaches 3 on 28 February
        (D(2024, 1, 1), D(2026, 12, 1)),  # reaches 3 on 31 December, across the year
    ],
)
def test_the_under_three_rate_runs_through_the_month_in_which_the_child_reaches_3(
    birth: dt.date, last_month_under_three: dt.date
) -> None:
    assert under_three_in(birth, last_month_under_three)
    next_month = first_paid_month(last_month_under_three)
    assert not under_three_in(birth, next_month)
    child = [Child(birth)]
    assert monthly_amount(child, last_month_under_three) == UNDER_THREE
    assert monthly_amount(child, next_month) == FROM_THREE


def test_no_income_limit_and_the_amounts_by_age_and_rank() -> None:
    month = D(2026, 5, 1)
    one_year_old, five, ten = Child(D(2025, 3, 3)), Child(D(2021, 1, 1)), Child(D(2016, 1, 1))
    assert monthly_amount([one_year_old], month) == 15_000
    assert monthly_amount([ten], month) == 10_000
    assert monthly_amount([ten, five], month) == 20_000
    # The 第3子 receives 30,000 円 at every age: under 3 too.
    assert monthly_amount([ten, five, one_year_old], month) == 10_000 + 10_000 + 30_000
    assert [s.rank for s in shares([one_year_old, ten, five], month)] == [1, 2, 3]  # eldest first
    four = [Child(D(2012 + i, 6, 1)) for i in range(4)]
    assert monthly_amount(four, month) == 10_000 + 10_000 + 30_000 + 30_000


def test_an_elder_child_up_to_22_makes_a_younger_one_the_third() -> None:
    month = D(2026, 5, 1)
    student = Child(D(2005, 8, 1))  # 20: past 高校生年代, before the 22歳年度末
    ten, five = Child(D(2016, 1, 1)), Child(D(2021, 1, 1))
    found = shares([student, ten, five], month)
    assert [(s.rank, s.amount) for s in found] == [(2, FROM_THREE), (3, THIRD_CHILD)]
    assert monthly_amount([student, ten, five], month) == 40_000
    # Not one the claimant supports (監護・生計費負担): the younger ones are 第1子 and 第2子 again.
    assert monthly_amount([Child(D(2005, 8, 1), supported=False), ten, five], month) == 20_000
    # Past the 22歳年度末 the elder no longer counts.
    assert monthly_amount([Child(D(2003, 4, 1)), ten, five], month) == 20_000


def test_the_rank_changes_on_the_first_day_after_the_elder_leaves_the_count() -> None:
    elder, middle, young = Child(D(2004, 4, 1)), Child(D(2014, 4, 5)), Child(D(2018, 4, 5))
    assert (
        monthly_amount([elder, middle, young], D(2026, 3, 1)) == 10_000 + 30_000
    )  # elder counted (22歳年度末)
    assert monthly_amount([elder, middle, young], D(2026, 4, 1)) == 10_000 + 10_000


def test_the_allowance_ends_with_the_month_of_the_31_march() -> None:
    leaving = [Child(D(2008, 4, 1))]
    assert monthly_amount(leaving, D(2026, 3, 1)) == FROM_THREE
    assert monthly_amount(leaving, D(2026, 4, 1)) == 0
    staying = [Child(D(2008, 4, 2))]
    assert monthly_amount(staying, D(2026, 4, 1)) == FROM_THREE


def test_a_child_not_yet_born_or_not_supported_brings_nothing() -> None:
    assert monthly_amount([Child(D(2026, 6, 10))], D(2026, 6, 1)) == 0  # born after the month's first day
    assert monthly_amount([Child(D(2026, 6, 10))], D(2026, 7, 1)) == UNDER_THREE
    assert monthly_amount([Child(D(2020, 1, 1), supported=False)], D(2026, 5, 1)) == 0
    assert monthly_amount([], D(2026, 5, 1)) == 0


@pytest.mark.parametrize(
    ("claimed", "first"),
    [(D(2026, 4, 1), D(2026, 5, 1)), (D(2026, 4, 30), D(2026, 5, 1)), (D(2026, 12, 15), D(2027, 1, 1))],
)
def test_payment_begins_the_month_after_the_claim(claimed: dt.date, first: dt.date) -> None:
    assert first_paid_month(claimed) == first


def test_the_parent_with_the_higher_income_receives() -> None:
    assert recipient({"claimant": 5_000_000, "spouse": 3_000_000}, "claimant") == "claimant"
    assert recipient({"claimant": 1_000_000, "spouse": 3_000_000}, "claimant") == "spouse"
    assert recipient({"claimant": 2_000_000, "spouse": 2_000_000}, "claimant") == "claimant"  # the claimant
    assert recipient({"claimant": 0}, "claimant") == "claimant"  # a single parent


def _member(atena: str, relation: str, birth: str) -> dict[str, str]:
    return {"AtenaNo": atena, "Shimei": "x", "ZokugaraCode": relation, "SeinengappiDate": birth}


HOUSEHOLD = [
    _member("A1", "01", "1985-05-05"),  # 世帯主
    _member("A2", "02", "1987-07-07"),  # 妻
    _member("A3", "04", "2012-04-01"),  # 子
    _member("A4", "04", "2020-10-10"),
    _member("A5", "07", "2025-01-01"),  # 孫: not the 世帯主's children to claim
]


def test_the_household_names_the_applicants_children_and_spouse() -> None:
    head = family_of(HOUSEHOLD, "A1")
    assert head.spouse == "A2" and [c.birth for c in head.children] == [D(2012, 4, 1), D(2020, 10, 10)]
    wife = family_of(HOUSEHOLD, "A2")
    assert wife.spouse == "A1" and len(wife.children) == 2
    son = family_of([*HOUSEHOLD[:2], _member("A3", "04", "2000-01-01"), HOUSEHOLD[4]], "A3")
    assert son.spouse is None and [c.birth for c in son.children] == [D(2025, 1, 1)]
    assert family_of(HOUSEHOLD, "ZZ") == Family([], None)  # not in the household
    # Stated on the 請求書 only: 3歳以上, in 高校生年代, so 10,000 円 each until the 第3子.
    assert monthly_amount(stated_children(3, D(2026, 5, 1)), D(2026, 5, 1)) == 50_000
