"""A receipt means the ballot is on disk: the setting in force on the
connection that takes ballots (power loss itself cannot be produced here)."""
from __future__ import annotations

from sqlalchemy import text

from survey.extensions import db


def test_commits_wait_for_the_disk(app) -> None:
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            assert db.session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        else:
            db.session.execute(text("SET LOCAL synchronous_commit TO off"))  # a stray setting in one transaction…
            db.session.rollback()
            assert db.session.execute(text("SHOW synchronous_commit")).scalar() == "on"  # …does not last


def test_a_fresh_postgresql_connection_is_set_even_against_the_servers_default(app) -> None:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            assert db.engine.dialect.name == "sqlite"
            return
        with db.engine.connect() as conn:
            conn.execute(text("ALTER ROLE CURRENT_USER SET synchronous_commit TO off"))
            conn.commit()
        try:
            db.engine.dispose()
            with db.engine.connect() as conn:
                assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
        finally:
            with db.engine.connect() as conn:
                conn.execute(text("ALTER ROLE CURRENT_USER RESET synchronous_commit"))
                conn.commit()
