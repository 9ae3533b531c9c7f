"""Check digits of 宛名番号 / 団体内統合宛名番号 and 個人番号, and the My Number vault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st
from stdnum.jp import in_ as my_number_format

from platform_hub.kit.vault import KeyFileError, generate_key_file, load_vault, rotate_key_file
from platform_hub.protocol.errors import SchemaViolation
from platform_hub.protocol.numbers import (
    atena_check_digit,
    atena_number,
    check_my_number,
    is_valid_atena_number,
)

BODIES = st.text("0123456789", min_size=14, max_size=14)


def _remainder(body: str) -> int:
    return sum(int(d) * (2, 3, 4, 5, 6, 7)[i % 6] for i, d in enumerate(reversed(body))) % 11


def test_known_numbers() -> None:
    assert atena_number(1) == "000000000000019"
    assert is_valid_atena_number("000000000000019")
    assert not is_valid_atena_number("000000000000018")
    assert my_number_format.is_valid("123456789018")
    assert not my_number_format.is_valid("123456789012")


@given(BODIES)
def test_every_body_gets_one_valid_check_digit(body: str) -> None:
    digit = atena_check_digit(body)
    assert is_valid_atena_number(body + digit)
    assert [d for d in "0123456789" if is_valid_atena_number(body + d)] == [digit]
    # Remainders 0 and 1 both give 0 (11 - 1 = 10 has no single digit); otherwise 11 - remainder.
    assert digit == ("0" if _remainder(body) <= 1 else str(11 - _remainder(body)))


@given(BODIES, st.integers(0, 13), st.integers(1, 9))
def test_a_single_changed_digit_is_caught(body: str, position: int, shift: int) -> None:
    changed = body[:position] + str((int(body[position]) + shift) % 10) + body[position + 1 :]
    number = body + atena_check_digit(body)
    forged = changed + number[-1]
    # Weights below 11 and a prime modulus: the remainder always moves, and only a move between
    # 0 and 1 (which share the check digit 0) can go unseen.
    assert _remainder(changed) != _remainder(body)
    if {_remainder(changed), _remainder(body)} != {0, 1}:
        assert not is_valid_atena_number(forged)


@given(st.integers(1, 10**14 - 2))
def test_issued_numbers_are_valid_and_distinct(serial: int) -> None:
    assert is_valid_atena_number(atena_number(serial))
    assert atena_number(serial) != atena_number(serial + 1)


@given(st.text("0123456789", min_size=11, max_size=11))
def test_my_number_check_digit(body: str) -> None:
    valid = body + my_number_format.calc_check_digit(body)
    assert check_my_number(valid) == valid
    for wrong in {str(d) for d in range(10)} - {valid[-1]}:
        with pytest.raises(SchemaViolation) as raised:
            check_my_number(body + wrong)
        assert body not in str(raised.value)  # the error never repeats the number


def test_vault_encrypts_and_rotation_keeps_old_ciphertexts(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    generate_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    vault = load_vault(path)
    key_id, blob = vault.encrypt("123456789018", "000000000000019")
    assert b"123456789018" not in blob
    with pytest.raises(InvalidTag):  # bound to its person: copied onto another row it does not open
        vault.decrypt(key_id, blob, "000000000000027")
    assert rotate_key_file(path) == "k2"
    rotated = load_vault(path)
    assert rotated.current == "k2"
    assert rotated.decrypt(key_id, blob, "000000000000019") == "123456789018"
    new_key, new_blob = rotated.encrypt("123456789018", "000000000000019")
    assert new_key == "k2" and new_blob != blob
    assert rotated.lookup_hash("123456789018") == vault.lookup_hash("123456789018")  # the HMAC key stays
    assert "123456789018" not in repr(rotated) and str(json.loads(path.read_text())["hmac_key"]) not in repr(
        rotated
    )
    with pytest.raises(FileExistsError):
        generate_key_file(path)


def test_broken_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        load_vault(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"current": "k9", "keys": {"k1": "AAAA"}, "hmac_key": "AAAA"}))
    with pytest.raises(KeyFileError):
        load_vault(broken)
