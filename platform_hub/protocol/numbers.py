"""The registry's numbers and their check digits.

- 宛名番号 (atena number): X(15), 14 digits and a modulus-11 check digit. Weights 2–7 repeat from
  the right; check = 11 − (Σ mod 11), and a remainder of 0 **or 1** gives 0 (11 − 1 = 10 has no
  single digit; the 個人番号 rule of 番号法施行令 does the same).
- 団体内統合宛名番号 (integrated number): the same form, issued by the hub from a counter that never
  goes back, so a number is never reused.
- 個人番号 (My Number): 12 digits checked with python-stdnum (番号法施行規則 formula).
"""

from __future__ import annotations

from operator import mul

from stdnum.jp import in_ as my_number_format

from platform_hub.protocol.errors import SchemaViolation

ATENA_LENGTH = 15
# 未採番: what a unit that does not number a person yet is given in a 住民異動 that introduces them
# (転入, 出生); check-digit valid, but serials start at 1, so neither the hub nor a unit issues it.
UNNUMBERED_ATENA = "0" * ATENA_LENGTH
_WEIGHTS = (2, 3, 4, 5, 6, 7) * 3  # from the right, repeating: enough for 14 digits


def atena_check_digit(body: str) -> str:
    """The check digit of a 14-digit body."""
    if len(body) != ATENA_LENGTH - 1 or not body.isascii() or not body.isdigit():
        raise ValueError(f"an atena number body is {ATENA_LENGTH - 1} digits")
    total = sum(map(mul, map(int, reversed(body)), _WEIGHTS))
    remainder = total % 11
    return "0" if remainder <= 1 else str(11 - remainder)


def is_valid_atena_number(number: str) -> bool:
    if len(number) != ATENA_LENGTH or not number.isascii() or not number.isdigit():
        return False
    return atena_check_digit(number[:-1]) == number[-1]


def atena_number(serial: int) -> str:
    """The number for a serial: the serial zero-padded to 14 digits, then its check digit."""
    body = f"{serial:014d}"
    if len(body) != ATENA_LENGTH - 1:
        raise ValueError("serial out of range")
    return body + atena_check_digit(body)


def check_atena_number(number: str, what: str = "宛名番号") -> str:
    if not is_valid_atena_number(number):
        raise SchemaViolation(f"{what} must be 15 digits with a valid check digit (modulus 11)")
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
