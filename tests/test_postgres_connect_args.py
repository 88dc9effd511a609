"""The PostgreSQL connection defaults must not override what the database URL sets."""

from sqlalchemy import event

from monitor.store.db import Database


def test_the_url_s_own_connection_options_win_over_the_defaults():
    db = Database("postgresql+psycopg://monitor@127.0.0.1:9/news?connect_timeout=1&keepalives=0")
    seen = {}

    @event.listens_for(db.engine, "do_connect")
    def grab(dialect, record, cargs, cparams):
        seen.update(cparams)
        raise ConnectionRefusedError("not connecting in a test")

    try:
        with db.engine.connect():
            pass
    except Exception:  # noqa: BLE001
        pass
    db.dispose()
    assert str(seen["connect_timeout"]) == "1" and str(seen["keepalives"]) == "0"
    assert seen["tcp_user_timeout"] == 60_000  # the defaults it does not set still apply
