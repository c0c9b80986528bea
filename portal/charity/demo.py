"""Emergency aid's demo set: two clearly labelled funds and two requests in 西屏街道.

Every fund and person is named 演示·…, every applicant has a mobile 199000004xx that belongs to
nobody, and the bank account numbers are made up. The set is built through the area's own rules
(funds, the ledger, submission, the township check, the proposal, four-eyes approval, payment),
so it is audited like real work; it is for trying the portal only.

- 演示·留守儿童应急救助专项基金 (special fund): two donations.
- 演示·爱心企业冠名基金 (named fund, its donor named in public, principal kept): one donation
  kept as principal and one income, the only money it may grant.
- An emergency (演示·小宇, accidental injury) checked by the demo township account of 西屏街道
  (19900000003), proposed at ¥3,000 from the special fund by the demo charity staff
  (19900000005), approved by the demo approver (19900000006) and paid during its public notice
  (先行救助) by a second demo charity staff account, 演示·慈善总会出纳 (19900000490), which the set
  adds, since the payer may not be one of the approvers. Its notice shows on the disclosure
  page for seven days after loading.
- A request (演示·小禾, sudden hardship) with its two documents, waiting for the township's check.

It needs the demo accounts (added first by `flask portal demo`) and the area's tables; without
either, it says so and adds nothing. Loading twice adds nothing: a fund whose name is there is
kept as it is with its entries, a request whose key is there is kept at whatever step it is.
"""

from __future__ import annotations

import io
import secrets

from sqlalchemy import inspect
from sqlmodel import Session, select

from portal.auth import services as accounts
from portal.auth.models import Role, User
from portal.charity import funds, ledger, requests
from portal.charity.models import AidRequest, DocumentKind, Fund, FundKind

XIPING = "331124001"
VILLAGE = "演示村"
TOWNSHIP = "19900000003"  # 演示·西屏街道督导员
STAFF = "19900000005"  # 演示·慈善总会经办
APPROVER = "19900000006"  # 演示·慈善总会审批
PAYER = ("19900000490", "演示·慈善总会出纳")  # added here: a second member of charity staff

SPECIAL = {
    "name": "演示·留守儿童应急救助专项基金",
    "kind": FundKind.SPECIAL.value,
    "purpose": "演示数据：留守儿童遇到急难情况或突发意外时的应急救助",
}
NAMED = {
    "name": "演示·爱心企业冠名基金",
    "kind": FundKind.NAMED.value,
    "donor": "演示·爱心企业",
    "donor_public": True,
    "keep_principal": True,
    "purpose": "演示数据：留本冠名基金，以本金收益救助遇到突发意外的留守儿童",
    "earmark": "意外伤害",
}
# (fund, kind, yuan, reference, note)
ENTRIES = (
    (SPECIAL["name"], "donation", "50000", "DEMO-JZ-0001", "演示·爱心人士捐赠"),
    (SPECIAL["name"], "donation", "20000", "DEMO-JZ-0002", "演示·慈善一日捐"),
    (NAMED["name"], "donation", "100000", "DEMO-JZ-0003", "演示·爱心企业冠名捐赠（本金）"),
    (NAMED["name"], "income", "2400", "DEMO-LX-0001", "演示·本金存款利息"),
)

PAID_KEY = "demo-charity-request-paid-1"
WAITING_KEY = "demo-charity-request-waiting-1"
PAID_AMOUNT_FEN = 300_000  # ¥3,000: one approver is enough
PAID_REFERENCE = "DEMO-FK-0001"


def _application(**fields) -> dict:
    data = {
        "applicant_relation": "guardian",
        "township_code": XIPING,
        "village": VILLAGE,
        "consent": True,
    }
    data.update(fields)
    return data


PAID = _application(
    applicant_name="演示·王奶奶",
    applicant_mobile="19900000401",
    child_name="演示·小宇",
    child_sex="M",
    child_age="9",
    kind="accident",
    emergency=True,
    amount="3000",
    story="演示数据：孩子放学路上摔伤，腿部骨折住院，父母在外务工，一时凑不齐手术费用。",
    account_holder="演示·王奶奶",
    account_bank="演示银行西屏支行",
    account_number="9999000000000401",
)
WAITING = _application(
    applicant_name="演示·李爷爷",
    applicant_mobile="19900000402",
    child_name="演示·小禾",
    child_sex="F",
    child_age="12",
    kind="hardship",
    emergency=False,
    amount="2000",
    story="演示数据：家中房屋漏雨受损，孩子的被褥和学习用品被淋湿，需要添置。",
    account_holder="演示·李爷爷",
    account_bank="演示银行西屏支行",
    account_number="9999000000000402",
)


def _document(label: str) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (600, 300), "white")
    ImageDraw.Draw(image).text((20, 140), f"DEMO - {label} - not a real document", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _demo_user(session: Session, phone: str, role: Role, township: str | None = None):
    statement = select(User).where(
        User.phone == phone, User.role == role, User.is_demo.is_(True), User.is_active.is_(True)
    )
    if township:
        statement = statement.where(User.township_code == township)
    return session.exec(statement).first()


def _payer(session: Session, added: list[str]) -> User:
    phone, name = PAYER
    user = session.exec(select(User).where(User.phone == phone)).first()
    if user is None:
        user = accounts.create_user(
            session,
            name=name,
            role=Role.CHARITY_STAFF,
            password="demo-" + secrets.token_urlsafe(12),
            phone=phone,
            is_demo=True,
        )
        added.append(
            f"demo account {phone} {name} (charity_staff, pays the demo aid); its password "
            "is not shown: an admin can issue a reset link"
        )
    return user


def _funds(session: Session, staff: User, added: list[str]) -> dict[str, Fund]:
    found: dict[str, Fund] = {}
    for spec in (SPECIAL, NAMED):
        fund = session.exec(select(Fund).where(Fund.name == spec["name"])).first()
        if fund is None:
            fund = funds.create_fund(session, spec, actor=staff)
            for name, kind, amount, reference, note in ENTRIES:
                if name != fund.name:
                    continue
                record = ledger.record_donation if kind == "donation" else ledger.record_income
                record(
                    session,
                    fund,
                    actor=staff,
                    amount_fen=ledger.parse_yuan(amount),
                    reference=reference,
                    note=note,
                )
            figures = ledger.balance(session, fund.id)
            added.append(
                f"fund #{fund.id} {fund.name}: ¥{ledger.yuan(figures.balance)} in, "
                f"¥{ledger.yuan(figures.available)} available to grant"
            )
        found[spec["name"]] = fund
    return found


def _existing(session: Session, key: str) -> AidRequest | None:
    return session.exec(select(AidRequest).where(AidRequest.idempotency_key == key)).first()


def _paid(session: Session, people: dict[str, User], fund: Fund) -> list[str]:
    if _existing(session, PAID_KEY) is not None:
        return []
    aid, _created = requests.submit(session, dict(PAID), documents=[], idempotency_key=PAID_KEY)
    requests.township_check(
        session, aid, actor=people["township"], note="演示：已与村里核实，孩子确实住院。"
    )
    requests.propose(session, aid, actor=people["staff"], fund=fund, amount_fen=PAID_AMOUNT_FEN)
    requests.approve(session, aid, actor=people["approver"])
    if people["payer"].role != Role.CHARITY_STAFF or not people["payer"].is_active:
        return [
            f"request {aid.number} {aid.child_name}: approved, not paid ({PAYER[0]} is not an "
            "active charity staff account)"
        ]
    requests.pay(session, aid, actor=people["payer"], reference=PAID_REFERENCE)
    return [
        f"request {aid.number} {aid.child_name}: emergency, ¥{ledger.yuan(aid.approved_fen)} "
        f"from {fund.name} approved and paid during its public notice (until "
        f"{aid.notice_until.isoformat()})"
    ]


def _waiting(session: Session) -> list[str]:
    if _existing(session, WAITING_KEY) is not None:
        return []
    documents = [
        requests.Upload(DocumentKind.APPLICATION.value, "demo-application.png", _document("form")),
        requests.Upload(DocumentKind.HOUSEHOLD.value, "demo-household.png", _document("hukou")),
    ]
    aid, _created = requests.submit(
        session, dict(WAITING), documents=documents, idempotency_key=WAITING_KEY
    )
    return [f"request {aid.number} {aid.child_name}: waiting for the township's check"]


def load(session: Session) -> list[str]:
    if not inspect(session.connection()).has_table(AidRequest.__tablename__):
        return ["nothing added: the emergency-aid tables are missing (run `flask portal init`)"]
    people = {
        "township": _demo_user(session, TOWNSHIP, Role.TOWNSHIP_STAFF, XIPING),
        "staff": _demo_user(session, STAFF, Role.CHARITY_STAFF),
        "approver": _demo_user(session, APPROVER, Role.CHARITY_APPROVER),
    }
    missing = [
        phone
        for phone, user in zip((TOWNSHIP, STAFF, APPROVER), people.values(), strict=True)
        if not user
    ]
    if missing:
        return [f"skipped: no demo account {', '.join(missing)} (run `flask portal demo`)"]
    added: list[str] = []
    people["payer"] = _payer(session, added)
    found = _funds(session, people["staff"], added)
    added += _paid(session, people, found[SPECIAL["name"]])
    added += _waiting(session)
    return added
