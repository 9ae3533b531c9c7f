"""The registry's numbers and their check digits.

- 宛名番号 (atena number): X(15). A number **newly** given (a 住登外者 registered, a number linked, a
  転入・出生 of 住民基本台帳) is 14 digits and a modulus-11 check digit (住民記録システム標準仕様書:
  M11, weights 2–7 from the right, check = 11 − (Σ mod 11), "余りが０の場合、検査付番は０"). The
  standard leaves remainder 1 (11 − 1 = 10, no single digit) open: the city chooses
  (``RemainderOne``, the setting ``PLATFORM_HUB_ATENA_CHECK_DIGIT_REMAINDER_ONE``) — ``zero`` (the
  default, as the 個人番号 rule of 総務省令第85号 does) or ``refuse`` (no such body is numbered).
  "新規付番に限り": numbers a unit held before the hub (``addressees import``, a 全件 set) are taken
  as they are, 15 characters [0-9A-Z], their check digit unexamined.
- 団体内統合宛名番号 (integrated number): the same form, issued by the hub from a counter that never
  goes back, so a number is never reused (under ``refuse``, bodies of remainder 1 are stepped over).
- 個人番号 (My Number): 12 digits checked with python-stdnum (番号法施行規則 formula).
"""

from __future__ import annotations

import re
from enum import StrEnum
from operator import mul

from stdnum.jp import in_ as my_number_format

from platform_hub.protocol.errors import SchemaViolation

ATENA_LENGTH = 15
# 未採番: what a unit that does not number a person yet is given in a 住民異動 that introduces them
# (転入, 出生); check-digit valid, but serials start at 1, so neither the hub nor a unit issues it.
UNNUMBERED_ATENA = "0" * ATENA_LENGTH
_WEIGHTS = (2, 3, 4, 5, 6, 7) * 3  # from the right, repeating: enough for 14 digits
_ATENA_FORM = re.compile(r"[0-9A-Z]{15}")  # X(15) as the messages' XSDs take it


class RemainderOne(StrEnum):
    """What a modulus-11 remainder of 1 gives, which the standard does not say: check digit 0, or no
    valid number at all."""

    ZERO = "zero"
    REFUSE = "refuse"


def atena_check_digit(body: str, remainder_one: RemainderOne = RemainderOne.ZERO) -> str | None:
    """The check digit of a 14-digit body; ``None`` for remainder 1 when the rule refuses it."""
    if len(body) != ATENA_LENGTH - 1 or not body.isascii() or not body.isdigit():
        raise ValueError(f"an atena number body is {ATENA_LENGTH - 1} digits")
    total = sum(map(mul, map(int, reversed(body)), _WEIGHTS))
    remainder = total % 11
    if remainder == 1 and remainder_one == RemainderOne.REFUSE:
        return None
    return "0" if remainder <= 1 else str(11 - remainder)


def is_valid_atena_number(number: str, remainder_one: RemainderOne = RemainderOne.ZERO) -> bool:
    if len(number) != ATENA_LENGTH or not number.isascii() or not number.isdigit():
        return False
    return atena_check_digit(number[:-1], remainder_one) == number[-1]


def is_atena_form(number: str) -> bool:
    """15 characters [0-9A-Z]: what a 宛名番号 the city held before the hub must be, no more."""
    return _ATENA_FORM.fullmatch(number) is not None


def atena_number(serial: int, remainder_one: RemainderOne = RemainderOne.ZERO) -> str:
    """The number for a serial: the serial zero-padded to 14 digits, then its check digit
    (``ValueError`` for a body the rule gives none)."""
    body = f"{serial:014d}"
    if len(body) != ATENA_LENGTH - 1:
        raise ValueError("serial out of range")
    digit = atena_check_digit(body, remainder_one)
    if digit is None:
        raise ValueError("this serial's body has remainder 1, which the rule refuses")
    return body + digit


def check_atena_number(
    number: str, what: str = "宛名番号", remainder_one: RemainderOne = RemainderOne.ZERO
) -> str:
    """A newly given 宛名番号: 15 digits with a valid check digit, never 未採番."""
    if not is_valid_atena_number(number, remainder_one):
        rule = "remainder 1 refused" if remainder_one == RemainderOne.REFUSE else "remainder 0 or 1 gives 0"
        raise SchemaViolation(f"{what} must be 15 digits with a valid check digit (modulus 11, {rule})")
    if number == UNNUMBERED_ATENA:
        raise SchemaViolation(f"{what} {UNNUMBERED_ATENA} is reserved (未採番) and cannot be linked")
    return number


def check_migrated_atena_number(number: str, what: str = "宛名番号") -> str:
    """A 宛名番号 the city held before the hub: taken as it is (15 characters [0-9A-Z]), never 未採番."""
    if not is_atena_form(number):
        raise SchemaViolation(f"{what} must be 15 characters [0-9A-Z]")
    if number == UNNUMBERED_ATENA:
        raise SchemaViolation(f"{what} {UNNUMBERED_ATENA} is reserved (未採番) and cannot be linked")
    return number


def is_valid_my_number(number: str) -> bool:
    """The format and check digit (python-stdnum's formula), without stdnum's slower clean-up step."""
    return (
        len(number) == 12
        and number.isascii()
        and number.isdigit()
        and (my_number_format.calc_check_digit(number[:-1]) == number[-1])
    )


def check_my_number(number: str) -> str:
    """A valid 個人番号, or E1002 — the message never repeats the number itself."""
    if not is_valid_my_number(number):
        raise SchemaViolation("個人番号 must be 12 digits with a valid check digit")
    return number
