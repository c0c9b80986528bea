"""Outbox delivery: 100,000 due messages to the `log` SMS channel.

Figures: messages per second, the delivering process's peak memory, and duplicates (a message
handed to the channel more than once; must be 0), on SQLite and on PostgreSQL, and with two
scheduler processes racing over the same outbox. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _harness import ROOT

sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402
from sqlmodel import Session  # noqa: E402

from portal.db import make_engine  # noqa: E402
from portal.notify.models import OutboxMessage, SmsLog  # noqa: E402
from portal.timeutil import utcnow  # noqa: E402
from tests.conftest import reset_schema  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_BENCH = "postgresql+psycopg://postgres@127.0.0.1:5432/portal_bench_outbox"


def fill(url: str, count: int) -> None:
    """A fresh schema with `count` SMS messages due now."""
    reset_schema(url)
    engine = make_engine(url)
    now = utcnow()
    rows = [
        {
            "key": f"bench:{n}",
            "channel": "sms",
            "template": "bench",
            "address": f"139{n:08d}",
            "language": "zh_CN",
            "subject": f"提醒 {n}",
            "body": f"【松阳留守儿童关爱平台】您预约的家长学校讲座将于明天19:00开始（编号{n}）。",
            "status": "pending",
            "created_at": now,
            "due_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }
        for n in range(count)
    ]
    with engine.begin() as conn:
        for start in range(0, count, 10_000):
            conn.execute(insert(OutboxMessage.__table__), rows[start : start + 10_000])
    engine.dispose()


def deliver(url: str, workers: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="outbox-bench-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("_outbox_worker.py")),
                    url,
                    f"w{i}",
                    str(workdir),
                    str(batch),
                ],
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            for i in range(workers)
        ]
        results = [
            json.loads(p.communicate(timeout=1800)[0].strip().splitlines()[-1]) for p in processes
        ]
        wall = time.perf_counter() - started
        handed = Counter()
        for i in range(workers):
            handed.update((workdir / f"refs-w{i}.txt").read_text().splitlines())
    engine = make_engine(url)
    with Session(engine) as s:
        sent = s.execute(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
        ).scalar_one()
        logged = s.execute(select(func.count()).select_from(SmsLog)).scalar_one()
    engine.dispose()
    total = sum(r["sent"] for r in results)
    seconds = max(r["seconds"] for r in results)
    return {
        "messages": total,
        "messages_per_s": round(total / seconds, 1),
        "wall_s_with_start_up": round(wall, 2),
        "peak_mib": round(max(r["peak_mib"] for r in results), 1),
        "duplicates": sum(c - 1 for c in handed.values() if c > 1),
        "sent_rows": sent,
        "sms_log_rows": logged,
        "per_worker": [r["sent"] for r in results],
    }


def postgres_available() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN.replace("+psycopg", ""), connect_timeout=3).close()
        return True
    except Exception:  # noqa: BLE001
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="outbox-bench-db-") as tmp:
        for name, workers in (("sqlite", 1), ("two_schedulers", 2)):
            url = f"sqlite:///{Path(tmp) / (name + '.db')}"
            fill(url, args.messages)
            results[name] = deliver(url, workers, args.batch)
            print(name, results[name], flush=True)
    if postgres_available():
        admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        try:
            for name, workers in (("postgresql", 1), ("two_schedulers_postgresql", 2)):
                with admin.connect() as conn:
                    conn.exec_driver_sql("DROP DATABASE IF EXISTS portal_bench_outbox WITH (FORCE)")
                    conn.exec_driver_sql("CREATE DATABASE portal_bench_outbox")
                fill(PG_BENCH, args.messages)
                results[name] = deliver(PG_BENCH, workers, args.batch)
                print(name, results[name], flush=True)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql("DROP DATABASE IF EXISTS portal_bench_outbox WITH (FORCE)")
            admin.dispose()
    else:
        print("No PostgreSQL at 127.0.0.1:5432: the PostgreSQL figures are skipped.")
    keep = ("messages_per_s", "peak_mib", "duplicates")
    print(
        json.dumps(
            {
                name: {k: v for k, v in figures.items() if k in keep}
                for name, figures in results.items()
            }
        )
    )


if __name__ == "__main__":
    main()
