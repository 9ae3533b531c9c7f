"""The demo city's synthetic residents: one seed makes the same people in every mock unit.

Every unit calls ``generate_city(seed, residents)`` and numbers the people its own way, so the
registry has to link four different 宛名番号 to one person, as in a real city. Names and readings
come from Faker ``ja_JP`` (kanji with their katakana), My Numbers carry a valid check digit
(python-stdnum), and addresses are full-width (the catalog's 住所 is an ``N`` item). The city is
as of ``REFERENCE_DATE``, so units started on different days still agree.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from faker import Faker
from stdnum.jp import in_ as my_number_format

from platform_hub_demo.allowance import Child

CITY_NAME = "東京都千代田区"
CITY_CODE = "131016"  # 市区町村コード (with its check digit)
REFERENCE_DATE = dt.date(2026, 4, 1)  # the demo ordinance's effective date
_TOWNS = (
    "丸の内",
    "大手町",
    "有楽町",
    "内幸町",
    "神田錦町",
    "一ツ橋",
    "九段北",
    "九段南",
    "飯田橋",
    "富士見",
    "麹町",
)
_KANJI_DIGITS = "〇一二三四五六七八九"
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
FULL_SPACE = "\u3000"

# 続柄 codes of the catalog (IF_JUK_0001 00101106).
HEAD, WIFE, HUSBAND, CHILD = "01", "02", "03", "04"


@dataclass(frozen=True)
class Resident:
    """One person of the city; ``key`` names them across units (never sent to the hub)."""

    key: str
    my_number: str = field(repr=False)
    name: str
    kana: str
    birth_date: dt.date
    sex: str  # 1 男, 2 女
    household: str
    relation: str  # 続柄 to the head of the household
    address: str
    resident_since: dt.date
    salary: int  # 給与等の収入金額 a year, yen (0: none)

    @property
    def last_name(self) -> str:
        return self.name.split(FULL_SPACE)[0]

    def age_on(self, day: dt.date) -> int:
        return (
            day.year
            - self.birth_date.year
            - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))
        )


def full_width(text: str) -> str:
    return text.translate(_FULL_WIDTH)


def kanji_number(number: int) -> str:
    """Small counts as 丁目 are written: 1 → 一, 12 → 十二."""
    tens, ones = divmod(number, 10)
    return ("" if tens == 0 else ("十" if tens == 1 else _KANJI_DIGITS[tens] + "十")) + (
        _KANJI_DIGITS[ones] if ones else ""
    )


def city_address(rng: random.Random) -> str:
    town = rng.choice(_TOWNS)
    chome, ban, go = rng.randint(1, 4), rng.randint(1, 30), rng.randint(1, 20)
    return f"{CITY_NAME}{town}{kanji_number(chome)}丁目{full_width(str(ban))}番{full_width(str(go))}号"


def elsewhere_address(fake: Faker) -> str:
    """An address in another municipality (転入前住所, 転出先住所)."""
    chome = kanji_number(int(fake.chome().removesuffix("丁目")) % 9 + 1)
    return full_width(f"{fake.prefecture()}{fake.city()}{fake.town()}{chome}丁目{fake.ban()}{fake.gou()}")


def new_my_number(rng: random.Random) -> str:
    body = f"{rng.randint(1, 9)}{rng.randrange(10**10):010d}"
    return body + my_number_format.calc_check_digit(body)


def birth_date_for(rng: random.Random, age: int, on: dt.date = REFERENCE_DATE) -> dt.date:
    return on - dt.timedelta(days=age * 365 + rng.randint(0, 364))


class CityBuilder:
    """Households one after another until the city has enough residents."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
        self.fake = Faker("ja_JP")
        self.fake.seed_instance(seed)
        self.people: list[Resident] = []
        self.my_numbers: set[str] = set()
        self.created = 0

    def unique_my_number(self) -> str:
        number = new_my_number(self.rng)
        while number in self.my_numbers:
            number = new_my_number(self.rng)
        self.my_numbers.add(number)
        return number

    def person(
        self, household: list[Resident], relation: str, sex: str, age: int, salary: int = 0
    ) -> Resident:
        """A member of ``household`` (the head first): same name, address and 転入 date as the head."""
        head = household[0] if household else None
        taken = {member.name for member in household}
        while True:  # no two members of one household share a first name
            first = self.fake.first_name_male_pair() if sex == "1" else self.fake.first_name_female_pair()
            last = (
                (head.last_name, head.kana.split(FULL_SPACE)[0]) if head else self.fake.last_name_pair()[:2]
            )
            if f"{last[0]}{FULL_SPACE}{first[0]}" not in taken:
                break
        birth = birth_date_for(self.rng, age)
        moved_in = (
            head.resident_since if head else REFERENCE_DATE - dt.timedelta(days=self.rng.randint(400, 9000))
        )
        self.created += 1
        return Resident(
            key=f"R{self.created:05d}",
            my_number=self.unique_my_number(),
            name=f"{last[0]}{FULL_SPACE}{first[0]}",
            kana=f"{last[1]}{FULL_SPACE}{first[1]}",
            birth_date=birth,
            sex=sex,
            household=head.household if head else f"H{self.created:05d}",
            relation=relation,
            address=head.address if head else city_address(self.rng),
            resident_since=max(birth, moved_in),
            salary=salary,
        )

    def household(self) -> list[Resident]:
        """One household: single, couple, family with children, single parent, or elderly couple."""
        rng = self.rng
        shape = rng.choices(["single", "couple", "family", "single_parent", "elderly"], [25, 15, 40, 10, 10])[
            0
        ]
        head_sex = rng.choice("12") if shape in {"single", "single_parent"} else "1"
        head_age = rng.randint(68, 88) if shape == "elderly" else rng.randint(24, 55)
        members: list[Resident] = []
        members.append(self.person(members, HEAD, head_sex, head_age, self.salary(head_age)))
        if shape in {"couple", "family", "elderly"}:
            spouse_age = max(20, head_age + rng.randint(-5, 3))
            spouse_pay = self.salary(spouse_age) if rng.random() < 0.4 else 0
            members.append(self.person(members, WIFE, "2", spouse_age, spouse_pay))
        if shape in {"family", "single_parent"}:
            for _ in range(rng.choice([1, 1, 2, 2, 3])):
                members.append(
                    self.person(members, CHILD, rng.choice("12"), rng.randint(0, min(17, head_age - 22)))
                )
        return members

    def salary(self, age: int) -> int:
        if age >= 65:
            return self.rng.randrange(1_200_000, 3_000_000, 10_000)  # 年金 counted as income, simply
        return int(min(max(self.rng.lognormvariate(15.2, 0.45), 1_500_000), 15_000_000)) // 10_000 * 10_000

    def build(self, residents: int) -> tuple[Resident, ...]:
        while len(self.people) < residents:
            self.people.extend(self.household())
        return tuple(self.people)


@lru_cache(maxsize=8)
def generate_city(seed: int, residents: int) -> tuple[Resident, ...]:
    """The city's residents for ``seed`` (whole households, so a few more than ``residents``)."""
    return CityBuilder(seed).build(residents)


def parents_with_children(city: Sequence[Resident], on: dt.date = REFERENCE_DATE) -> list[Resident]:
    """Heads of households with a child up to the end of 高校生年代: the people who may claim 児童手当."""
    children = {r.household for r in city if r.relation == CHILD and Child(r.birth_date).is_child_on(on)}
    return [r for r in city if r.relation == HEAD and r.household in children]
