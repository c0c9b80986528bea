"""Identity data at rest: encryption with rotation, a stable lookup hash, masking."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from portal.core import protect

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def test_encrypted_values_read_back_and_never_contain_the_plain_text():
    token = protect.encrypt("331124198506150013", keys=OLD)
    assert "331124198506150013" not in token
    assert protect.decrypt(token, keys=OLD) == "331124198506150013"
    assert protect.encrypt("331124198506150013", keys=OLD) != token  # a fresh IV each time


def test_rotation_new_key_first_still_reads_old_values():
    old_token = protect.encrypt("E12345678", keys=OLD)
    rotated = f"{NEW},{OLD}"
    assert protect.decrypt(old_token, keys=rotated) == "E12345678"
    new_token = protect.encrypt("E12345678", keys=rotated)
    with pytest.raises(protect.DataKeyError):
        protect.decrypt(new_token, keys=OLD)


def test_the_lookup_hash_survives_rotation_and_separates_kinds():
    before = protect.keyed_hash("id", "resident_id:331124198506150013", keys=OLD)
    after = protect.keyed_hash("id", "resident_id:331124198506150013", keys=f"{NEW},{OLD}")
    assert before == after
    assert protect.keyed_hash("account", "resident_id:331124198506150013", keys=OLD) != before
    assert protect.keyed_hash("id", "resident_id:331124198506150013", keys=NEW) != before


def test_bad_keys_are_refused_clearly():
    with pytest.raises(protect.DataKeyError, match="not a Fernet key"):
        protect.encrypt("x", keys="not-a-key")
    with pytest.raises(protect.DataKeyError, match="empty"):
        protect.encrypt("x", keys=" , ")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("331124198506150013", "3311**********0013"),
        ("11010519491231002X", "1101**********002X"),
        ("E12345678", "E*******8"),
        ("AB", "**"),
    ],
)
def test_masking(value, masked):
    assert protect.mask(value) == masked


@pytest.mark.parametrize(
    ("name", "masked"), [("张三", "张*"), ("欧阳小明", "欧***"), ("王", "王*")]
)
def test_names_shown_to_the_public_keep_only_the_first_character(name, masked):
    assert protect.mask_name(name) == masked
