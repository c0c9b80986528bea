"""Emergency-aid ledger at scale, in-process on a SQLite file.

1. A fund with 1,000,000 ledger entries over ten years (bulk inserts, not measured), beside
   five small funds: the time of `ledger.balance` for it (the one grouped query every fund
   figure comes from; ~100 calls) and of the public disclosure page `/charity/disclosure`
   through the Flask test client (~100 requests, each with a different `?r=` so none is
   answered by the page cache: the uncached cost; the cached answer is timed too), and the
   balance written as one sum per (kind, principal) for comparison. p50, p95. The payment race
   (2) runs first, so that its 100 paid requests are in the disclosure. `--covering-index`
   creates the two indexes of `COVERING` before anything is written.
2. 1,000 payment attempts on 100 approved emergency requests (10 per request, by 10 members of
   staff) from 20 threads, each attempt `requests.pay` in its own real session committed or
   rolled back (the service level, as a POST handler calls it; not HTTP): the grants written
   must be exactly 100.

The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from _harness import ROOT, scratch_dir

sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session, func, select  # noqa: E402

from portal import create_app  # noqa: E402
from portal.auth.models import Role, User  # noqa: E402
from portal.charity import ledger, requests  # noqa: E402
from portal.charity.models import (  # noqa: E402
    AidRequest,
    EntryKind,
    Fund,
    FundKind,
    LedgerEntry,
)
from portal.places import TOWNSHIPS  # noqa: E402
from portal.timeutil import china_today, utcnow  # noqa: E402
from tests.conftest import app_config, make_user, reset_schema  # noqa: E402

KINDS = ("illness", "accident", "disaster", "hardship", "other")
NAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "小宝晓雨一鸣可可思远子涵欣怡浩然梓萱宇轩"

# Indexes that make the ledger's sums index-only (see docs/benchmarks.md), created with
# --covering-index as a migration of the charity area would: one for sums per fund by kind
# (the balance grouped by kind and principal), one for the disclosure's months. Plain SQL, so
# that the table's metadata (and the run without them) stays as the models declare it.
COVERING = (
    "CREATE INDEX ix_ledger_fund_kind_amount ON charity_ledger "
    "(fund_id, kind, principal, amount_fen)",
    "CREATE INDEX ix_ledger_fund_day_amount ON charity_ledger "
    "(fund_id, booked_on, kind, amount_fen)",
)


def grouped_balance(session: Session, fund_id: int) -> int:
    """The balance as one sum per (kind, principal): the form the first index serves."""
    rows = session.exec(
        select(LedgerEntry.kind, LedgerEntry.principal, func.sum(LedgerEntry.amount_fen))
        .where(LedgerEntry.fund_id == fund_id)
        .group_by(LedgerEntry.kind, LedgerEntry.principal)
    ).all()
    return sum(int(total) for _kind, _principal, total in rows)


def fill_ledger(session: Session, fund_id: int, actor_id: int, count: int, today: date) -> int:
    """`count` entries over ten years in chunks of executemany; returns the balance written."""
    rng = random.Random(7)
    now = utcnow()
    total = 0
    chunk = 50_000
    for start in range(0, count, chunk):
        rows = []
        for n in range(start, min(start + chunk, count)):
            day = today - timedelta(days=3650 * (count - 1 - n) // max(count - 1, 1))
            roll = rng.random()
            if roll < 0.7:
                kind, amount = EntryKind.DONATION.value, rng.randint(10_000, 500_000)
            elif roll < 0.8:
                kind, amount = EntryKind.INCOME.value, rng.randint(100, 20_000)
            else:
                kind, amount = EntryKind.GRANT.value, -rng.randint(10_000, 300_000)
            total += amount
            rows.append(
                {
                    "fund_id": fund_id,
                    "kind": kind,
                    "amount_fen": amount,
                    "principal": False,
                    "booked_on": day,
                    "entered_by": actor_id,
                    "reference": f"R{n:07d}",
                    "created_at": now,
                }
            )
        session.execute(insert(LedgerEntry), rows)
    return total


def child_application(n: int) -> dict:
    return {
        "applicant_name": "王奶奶",
        "applicant_mobile": f"136{n:08d}",
        "applicant_relation": "guardian",
        "child_name": NAMES[n % len(NAMES)] + GIVEN[(n * 2) % len(GIVEN)] + GIVEN[n % len(GIVEN)],
        "child_sex": "M" if n % 2 else "F",
        "child_age": str(3 + n % 14),
        "township_code": TOWNSHIPS[n % len(TOWNSHIPS)][0],
        "village": f"第{n}村",
        "kind": KINDS[n % len(KINDS)],
        "emergency": "y",
        "amount": "3000",
        "story": "孩子突发疾病住院，家庭无力承担医疗费用。",
        "account_holder": "王奶奶",
        "account_bank": "松阳县农商银行",
        "account_number": f"62170000{n:08d}",
        "consent": "y",
    }


def approved_requests(app, engine, count: int) -> tuple[list[int], list[int], int]:
    """`count` approved emergency requests (payable now) on a fund of their own; payer ids."""
    with app.app_context(), Session(engine, expire_on_commit=False) as session:
        staff = make_user(session, role=Role.CHARITY_STAFF, name="经办人")
        approver = make_user(session, role=Role.CHARITY_APPROVER, name="审批人")
        payers = [make_user(session, role=Role.CHARITY_STAFF, name="出纳").id for _ in range(10)]
        townships = {
            code: make_user(session, role=Role.TOWNSHIP_STAFF, township_code=code, name="乡镇")
            for code, _name, _pinyin in TOWNSHIPS
        }
        with app.test_request_context():
            fund = Fund(
                name="留守儿童应急救助专项基金",
                kind=FundKind.SPECIAL,
                purpose="留守儿童应急救助",
                created_by=staff.id,
            )
            session.add(fund)
            session.flush()
            ledger.record_donation(session, fund, actor=staff, amount_fen=count * 300_000)
            ids = []
            for n in range(count):
                data = child_application(n)
                request, _ = requests.submit(
                    session, data, documents=[], idempotency_key=f"bench-{n:012d}"
                )
                requests.township_check(session, request, actor=townships[data["township_code"]])
                requests.propose(session, request, actor=staff, fund=fund, amount_fen=300_000)
                requests.approve(session, request, actor=approver)
                ids.append(request.id)
            session.commit()
        return ids, payers, fund.id


def payment_race(app, request_ids: list[int], payers: list[int], attempts: int) -> dict:
    from portal.extensions import db as portal_db

    per_request = attempts // len(request_ids)
    # Request-major: the attempts on one request are next to each other, so the 20 threads
    # are mostly paying the same one or two requests at any moment.
    tasks = [
        (request_id, payers[k % len(payers)], k)
        for request_id in request_ids
        for k in range(per_request)
    ]
    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def attempt(task) -> None:
        request_id, payer_id, k = task
        with app.test_request_context(), portal_db.new_session() as session:
            try:
                requests.pay(
                    session,
                    session.get(AidRequest, request_id),
                    actor=session.get(User, payer_id),
                    reference=f"BANK-{request_id}-{k}",
                )
                session.commit()
                outcome = "paid"
            except requests.AidError as error:
                session.rollback()
                outcome = error.message
        with lock:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(attempt, tasks))
    seconds = time.perf_counter() - start
    return {"outcomes": outcomes, "seconds": round(seconds, 2), "attempts": len(tasks)}


def timed(call, count: int) -> list[float]:
    call(-1)  # warm-up: templates compiled, statements cached
    times = []
    for n in range(count):
        start = time.perf_counter()
        call(n)
        times.append((time.perf_counter() - start) * 1000)
    return times


def p95(times: list[float]) -> float:
    return round(statistics.quantiles(times, n=20)[-1], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries of the big fund")
    parser.add_argument("--requests", type=int, default=100, help="timed calls per figure")
    parser.add_argument("--attempts", type=int, default=1000, help="payment attempts")
    parser.add_argument("--approved", type=int, default=100, help="approved requests to pay")
    parser.add_argument(
        "--covering-index",
        action="store_true",
        help="create the two covering indexes of the ledger first (see COVERING)",
    )
    args = parser.parse_args()
    today = china_today()
    figures: dict = {}
    with scratch_dir() as workdir:
        url = f"sqlite:///{workdir / 'bench.db'}"
        reset_schema(url)
        app = create_app(
            app_config(
                url,
                TESTING=False,
                PORTAL_LOG_LEVEL="ERROR",
                PORTAL_UPLOAD_DIR=str(workdir / "uploads"),
                PORTAL_SEARCH_DIR=str(workdir / "search"),
                PORTAL_DATA_KEYS=Fernet.generate_key().decode(),
                PORTAL_PAGE_CACHE_TTL=1,
            )
        )
        engine = app.extensions["portal_db"].engine
        if args.covering_index:
            with engine.begin() as conn:
                for statement in COVERING:
                    conn.exec_driver_sql(statement)

        # 2. The payment race first: its 100 paid requests are then in the disclosure too.
        request_ids, payers, race_fund = approved_requests(app, engine, args.approved)
        race = payment_race(app, request_ids, payers, args.attempts)
        with Session(engine) as session:
            written = session.exec(
                select(func.count()).where(
                    LedgerEntry.kind == EntryKind.GRANT, LedgerEntry.request_id.in_(request_ids)
                )
            ).one()
            race_balance = ledger.balance(session, race_fund)
        figures["payment_race"] = {
            "attempts": race["attempts"],
            "requests": len(request_ids),
            "entries_written": written,
        }
        print(
            f"payment race: {race['attempts']:,} attempts on {len(request_ids)} requests from 20 "
            f"threads in {race['seconds']} s; outcomes {race['outcomes']}; grants written "
            f"{written}; race fund balance {ledger.yuan(race_balance.balance)}"
        )

        # 1. The big fund, and five small ones.
        with app.app_context(), Session(engine) as session:
            actor = session.exec(select(User).where(User.role == Role.CHARITY_STAFF)).first()
            funds = []
            for n in range(6):
                fund = Fund(
                    name="百万条目冠名基金" if n == 0 else f"小额冠名基金{n}",
                    kind=FundKind.NAMED,
                    donor="爱心企业",
                    donor_public=True,
                    purpose="留守儿童应急救助",
                    created_by=actor.id,
                )
                session.add(fund)
                session.flush()
                funds.append(fund.id)
            start = time.perf_counter()
            expected = fill_ledger(session, funds[0], actor.id, args.entries, today)
            for fund_id in funds[1:]:
                fill_ledger(session, fund_id, actor.id, 1000, today)
            session.commit()
            print(f"{args.entries:,} entries written in {time.perf_counter() - start:.1f} s")
            session.exec(select(func.count()).select_from(LedgerEntry))
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")

        big = funds[0]
        with app.app_context(), Session(engine) as session:

            def one_balance(_n: int) -> None:
                assert ledger.balance(session, big).balance == expected

            def one_grouped(_n: int) -> None:
                assert grouped_balance(session, big) == expected

            balance_times = timed(one_balance, args.requests)
            grouped_times = timed(one_grouped, args.requests)

        client = app.test_client()

        def page(n: int) -> None:
            response = client.get(f"/charity/disclosure?r={n}")
            assert response.status_code == 200, response.status_code

        def cached_page(_n: int) -> None:
            response = client.get("/charity/disclosure")
            assert response.status_code == 200, response.status_code

        page_times = timed(page, args.requests)
        cached_times = timed(cached_page, args.requests)
        figures["balance_p95_ms"] = p95(balance_times)
        figures["disclosure_p95_ms"] = p95(page_times)
        print(
            f"{'fund of ' + format(args.entries, ',') + ' entries':<40}{'p50 ms':>9}{'p95 ms':>9}"
        )
        for label, times in (
            ("ledger.balance (service)", balance_times),
            ("one sum per kind and principal", grouped_times),
            ("/charity/disclosure, uncached", page_times),
            ("/charity/disclosure, page cache", cached_times),
        ):
            print(f"{label:<40}{statistics.median(times):>9.2f}{p95(times):>9.2f}")
        engine.dispose()
    print(
        json.dumps(
            {
                "balance_p95_ms": figures["balance_p95_ms"],
                "disclosure_p95_ms": figures["disclosure_p95_ms"],
                "payment_race": figures["payment_race"],
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
