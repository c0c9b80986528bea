"""A database built by the migrations refuses changes to the fund ledger, like the test schema."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from portal import migrate
from portal.db import make_engine


@pytest.mark.parametrize(
    "statement", ["UPDATE charity_ledger SET amount_fen = 1", "DELETE FROM charity_ledger"]
)
def test_the_migrated_ledger_refuses_update_and_delete(scratch_database, statement):
    engine = make_engine(scratch_database)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO user_account (name, role, password_hash, is_active, is_demo, session_version, created_at, password_changed_at, notify_by_email, notify_by_sms, language) VALUES ('x', 'charity_staff', 'x', true, false, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, false, false, 'zh_CN')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO charity_fund (name, kind, donor_public, purpose, keep_principal, active, created_by, created_at) VALUES ('基金', 'special', false, '用途', false, true, 1, CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO charity_ledger (fund_id, kind, amount_fen, principal, booked_on, entered_by, created_at) VALUES (1, 'donation', 100, false, CURRENT_DATE, 1, CURRENT_TIMESTAMP)"
                )
            )
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()
