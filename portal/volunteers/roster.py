"""Volunteer rosters (志愿者花名册): Excel in, Excel out, for township staff.

Import goes in two steps. `check_roster()` reads an uploaded .xlsx (the template's Chinese
column names in the first row), checks every row with `services.validate` plus duplicates
inside the file and the uploader's township, keeps the file (mode 600, by its SHA-256) and
stores a `RosterImport` with the problems found, row by row. Nothing is imported until
`confirm()`: it reads the kept file again (a row may have become a duplicate meanwhile; then
nothing is imported and the report is updated) and creates every account and record in the
request's one transaction. Imported people get an unusable password (an admin gives them a
set-up link) and no consent: they agree at their first login.

Export writes the staff list's rows (its filters and township scope) as .xlsx: the masked ID
number only, or, for the audited admin export, the full number.
"""

from __future__ import annotations

import io
import re
import secrets
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal import audit, cache
from portal.auth.models import Role, User
from portal.core import numbering, uploads
from portal.core.domain import DomainError, NotFound
from portal.core.scoping import COUNTY_WIDE_ROLES, check_township, township_scope
from portal.i18n import N_
from portal.places import Township
from portal.timeutil import china_today, utcnow
from portal.volunteers import services
from portal.volunteers.idnumber import IdType
from portal.volunteers.models import (
    POLITICAL_STATUSES,
    Category,
    RosterImport,
    ServiceRecord,
    Status,
    Volunteer,
)

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # a small zip that unpacks to gigabytes is refused
MAX_ROWS = 20_000
MAX_STORED_ERRORS = 5_000
FOLDER = "volunteer-imports"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXAMPLE_MARK = "示例"

audit.register_actions(
    {
        "volunteer.roster_checked": _l("Volunteer roster uploaded and checked"),
        "volunteer.roster_imported": _l("Volunteer roster imported"),
    }
)
audit.register_target(
    "volunteer_import",
    audit.TargetType(_l("Volunteer roster"), "volunteers.roster_report", "import_id"),
)


class RosterError(services.VolunteerError):
    """The file (field "file") or the import as a whole was refused."""


# The template's columns --------------------------------------------------------------------

# (field, header): the service's field names, the Chinese column names of the template.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "姓名"),
    ("id_type", "证件类型"),
    ("id_number", "证件号码"),
    ("mobile", "手机号码"),
    ("township_code", "乡镇（街道）"),
    ("village", "村（社区）"),
    ("political_status", "政治面貌"),
    ("category", "志愿者类别"),
    ("employer", "工作单位"),
    ("skills", "特长"),
    ("birth_date", "出生日期"),
    ("sex", "性别"),
    ("party_organisation", "党组织"),
    ("residence_village", "居住村（社区）"),
    ("report_date", "报到日期"),
    ("check_date", "无犯罪记录核查日期"),
    ("note", "备注"),
)
HEADERS = dict(COLUMNS)
ORDER = {name: index for index, (name, _header) in enumerate(COLUMNS)}
REQUIRED = ("name", "id_number", "mobile", "village", "political_status", "category")
# Other ways people write a column's name.
HEADER_ALIASES = {
    "居住村": "residence_village",
    "居住村社区": "residence_village",
    "乡镇": "township_code",
    "乡镇街道": "township_code",
    "村社区": "village",
    "村": "village",
    "手机": "mobile",
    "手机号": "mobile",
    "身份证号码": "id_number",
    "身份证号": "id_number",
    "类别": "category",
    "核查日期": "check_date",
    "无犯罪记录证明日期": "check_date",
}

ID_TYPE_NAMES = {
    IdType.RESIDENT_ID: "居民身份证",
    IdType.HK_MACAO_PERMIT: "港澳居民来往内地通行证",
    IdType.TAIWAN_PERMIT: "台湾居民来往大陆通行证",
    IdType.PASSPORT: "护照",
    IdType.FOREIGN_RESIDENT: "外国人永久居留身份证",
}
CATEGORY_NAMES = {
    Category.CADRE: "乡镇（街道）、村（社区）干部",
    Category.SUPERVISOR: "儿童福利督导员",
    Category.TEACHER: "教师职工",
    Category.PARTY_MEMBER: "共产党员",
    Category.SOCIAL: "社会志愿者",
}
SKILL_NAMES = {
    "tutoring": "教学辅导",
    "counselling": "心理咨询",
    "law": "法律",
    "medical": "医疗",
    "arts_sports": "文体",
    "care": "生活照料",
    "other": "其他",
}
SEX_NAMES = {"M": "男", "F": "女"}
_ALIASES: dict[str, dict[str, str]] = {
    "id_type": {"身份证": "resident_id", "台胞证": "taiwan", "回乡证": "hk_macao"},
    "category": {
        "干部": "cadre",
        "乡镇干部": "cadre",
        "村干部": "cadre",
        "村（社区）干部": "cadre",
        "乡镇（街道）干部": "cadre",
        "督导员": "supervisor",
        "儿童督导员": "supervisor",
        "教师": "teacher",
        "教职工": "teacher",
        "党员": "party_member",
        "中共党员": "party_member",
        "志愿者": "social",
    },
    "skills": {
        "学习辅导": "tutoring",
        "辅导": "tutoring",
        "心理疏导": "counselling",
        "心理": "counselling",
        "法律服务": "law",
        "医疗卫生": "medical",
        "医疗保健": "medical",
        "文体活动": "arts_sports",
        "文艺": "arts_sports",
        "体育": "arts_sports",
        "生活照顾": "care",
        "其它": "other",
    },
    "sex": {"男性": "M", "女性": "F"},
}


def _key(text: Any) -> str:
    """A label as compared: no spaces or stars, full-width brackets, upper-case letters."""
    text = re.sub(r"[\s*＊]+", "", str(text or ""))
    return text.replace("(", "（").replace(")", "）").upper()


def _lookup(kind: str, names: dict[str, str]) -> dict[str, str]:
    table = {_key(code): str(code) for code in names}
    table.update({_key(name): str(code) for code, name in names.items()})
    table.update({_key(name): code for name, code in _ALIASES.get(kind, {}).items()})
    return table


ID_TYPES = _lookup("id_type", ID_TYPE_NAMES)
CATEGORIES = _lookup("category", CATEGORY_NAMES)
SKILLS = _lookup("skills", SKILL_NAMES)
SEXES = _lookup("sex", SEX_NAMES)
POLITICAL = _lookup("political_status", dict(POLITICAL_STATUSES))
HEADER_FIELDS = {_key(header): name for name, header in COLUMNS}
HEADER_FIELDS.update({_key(alias): name for alias, name in HEADER_ALIASES.items()})
SKILL_SEPARATORS = re.compile(r"[,，、;；/\s]+")
SPACES = re.compile(r"[\s-]+")


# Reading the file ----------------------------------------------------------------------------


def _file_error(message: str, **params: Any) -> RosterError:
    return RosterError(message, "file", params=params or None)


def _open_workbook(data: bytes):
    """The workbook (openpyxl, read-only), or a field error saying what is wrong with the file."""
    if not data:
        raise _file_error(N_("The file is empty."))
    if len(data) > MAX_FILE_BYTES:
        raise _file_error(N_("The file is too large (at most 5 MB)."))
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _file_error(
            N_("Old .xls workbooks cannot be read: in Excel, save the file as .xlsx first.")
        )
    if not data.startswith(b"PK\x03\x04"):
        raise _file_error(
            N_(
                "Only Excel workbooks (.xlsx) can be imported. Download the template and fill it in."
            )
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
            unpacked = sum(member.file_size for member in members)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _file_error(N_("The file could not be read as an Excel workbook (.xlsx).")) from None
    if "xl/workbook.xml" not in names:
        raise _file_error(
            N_(
                "Only Excel workbooks (.xlsx) can be imported. Download the template and fill it in."
            )
        )
    if unpacked > MAX_UNPACKED_BYTES:
        raise _file_error(N_("The file is too large (at most 5 MB)."))
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles it does not know
            return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a damaged file
        raise _file_error(N_("The file could not be read as an Excel workbook (.xlsx).")) from None


@dataclass
class RawRow:
    number: int  # the row's number in Excel (the header is row 1)
    cells: dict[str, Any]


def read_rows(data: bytes) -> list[RawRow]:
    """The roster's data rows, by field name; blank rows and the template's example skipped."""
    workbook = _open_workbook(data)
    try:
        sheet = workbook.worksheets[0]
        rows: Iterator[tuple] = sheet.iter_rows(values_only=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                header = next(rows, None) or ()
                columns: dict[int, str] = {}
                for index, title in enumerate(header):
                    name = HEADER_FIELDS.get(_key(title))
                    if name and name not in columns.values():
                        columns[index] = name
                missing = [HEADERS[name] for name in REQUIRED if name not in columns.values()]
                if missing:
                    raise _file_error(
                        N_(
                            "The first row must hold the template's column names. "
                            "Missing: %(columns)s."
                        ),
                        columns="、".join(missing),
                    )
                found: list[RawRow] = []
                for number, values in enumerate(rows, start=2):
                    cells = {
                        name: values[index]
                        for index, name in columns.items()
                        if index < len(values)
                    }
                    if all(_blank(value) for value in cells.values()):
                        continue
                    if str(cells.get("note") or "").strip().startswith(EXAMPLE_MARK):
                        continue
                    found.append(RawRow(number, cells))
                    if len(found) > MAX_ROWS:
                        raise _file_error(
                            N_(
                                "At most %(max)s rows can be imported at once: split the roster "
                                "into several files."
                            ),
                            max=f"{MAX_ROWS:,}",
                        )
        except DomainError:
            raise
        except Exception:  # noqa: BLE001 - a damaged sheet
            raise _file_error(
                N_("The file could not be read as an Excel workbook (.xlsx).")
            ) from None
    finally:
        workbook.close()
    if not found:
        raise _file_error(N_("The roster has no volunteers in it (the example row is skipped)."))
    return found


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date()
    return str(value).strip()


DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def _date(value: Any) -> date | None:
    """A date cell: a real date, 2024-03-01, 2024/3/1, 2024.3.1, 2024年3月1日 or 20240301."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = int(value)
        if 19000101 <= number <= 21001231:
            value = str(number)
        elif 1 <= number <= 80_000:  # an Excel serial day number
            return date(1899, 12, 30) + timedelta(days=number)
        else:
            raise ValueError(value)
    text = _text(value)
    if re.fullmatch(r"\d{8}", text):
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    match = DATE_RE.match(text)
    if not match:
        raise ValueError(text)
    return date(*(int(part) for part in match.groups()))


# Checking rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    row: int
    field: str | None
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "field": self.field,
            "message": self.message,
            "params": self.params,
        }


@dataclass
class GoodRow:
    number: int
    checked: Any  # VolunteerInput
    parsed: Any  # idnumber.ParsedId
    check_date: date | None


@dataclass
class CheckResult:
    rows: int
    good: list[GoodRow]
    problems: list[Problem]

    @property
    def verified(self) -> int:
        return sum(1 for row in self.good if row.check_date is not None)


class _Townships:
    """The 19 townships by code and by name (read once per file)."""

    def __init__(self, session: Session) -> None:
        # Kept referenced: the session's identity map then answers services.validate's lookups.
        self.rows = list(session.exec(select(Township)))
        self.codes: dict[str, str] = {}
        for township in self.rows:
            for alias in (
                township.code,
                township.name,
                re.sub(r"(街道|镇|乡)$", "", township.name),
            ):
                self.codes[_key(alias)] = township.code
            self.codes.setdefault(_key(township.name.replace("畲族乡", "")), township.code)

    def code(self, value: Any) -> str | None:
        return self.codes.get(_key(_text(value))) if not _blank(value) else None


def _params(params: dict[str, Any] | None) -> dict[str, Any]:
    return {
        key: value if isinstance(value, int | float | str) else str(value)
        for key, value in (params or {}).items()
    }


def check_rows(
    session: Session,
    raw_rows: Iterable[RawRow],
    *,
    actor: User,
    today: date | None = None,
) -> CheckResult:
    """Every row checked: the service's rules, the file's own duplicates, the actor's township."""
    today = today or china_today()
    townships = _Townships(session)
    scope = township_scope(actor)
    days = services.valid_days()
    seen_ids: dict[str, int] = {}
    seen_mobiles: dict[str, int] = {}
    passed: list[tuple] = []  # rows the service's rules accept: (row, input, parsed id, check, own)
    problems: list[Problem] = []
    count = 0
    for raw in raw_rows:
        count += 1
        own: dict[str, tuple[str, dict[str, Any]]] = {}

        def problem(name: str, message: str, own=own, **params: Any) -> None:
            own.setdefault(name, (message, params))

        data, check_date = _row_data(raw.cells, townships, scope, today, days, problem)
        id_key = data["id_type"] + ":" + SPACES.sub("", data["id_number"]).upper()
        if data["id_number"]:
            first = seen_ids.setdefault(id_key, raw.number)
            if first != raw.number:
                problem(
                    "id_number",
                    N_("The same ID number is already on row %(row)d of this file."),
                    row=first,
                )
        mobile = SPACES.sub("", data["mobile"])
        if mobile:
            first = seen_mobiles.setdefault(mobile, raw.number)
            if first != raw.number:
                problem(
                    "mobile",
                    N_("The same mobile number is already on row %(row)d of this file."),
                    row=first,
                )
        found: dict[str, tuple[str, dict[str, Any]]] = dict(own)
        try:
            # Uniqueness against the database is asked below for the whole file at once.
            checked, parsed = services.validate(session, data, today=today, check_unique=False)
        except services.InvalidVolunteer as error:
            for item in error.problems:
                name = item.field if item.field in HEADERS else None
                found.setdefault(name, (item.message, item.params))
        else:
            passed.append((raw.number, checked, parsed, check_date, set(own)))
        for name, (message, params) in found.items():
            problems.append(Problem(raw.number, name, str(message), _params(params)))
    problems.extend(_registered(session, passed))
    problems.sort(key=lambda p: (p.row, ORDER.get(p.field, len(ORDER))))
    if problems:
        return CheckResult(rows=count, good=[], problems=problems)
    good = [GoodRow(number, checked, parsed, check) for number, checked, parsed, check, _ in passed]
    return CheckResult(rows=count, good=good, problems=[])


def _registered(session: Session, passed: list[tuple]) -> list[Problem]:
    """The uniqueness check of `services.validate`, for every valid row in a few queries.

    Asked row by row it costs two queries a row, most of a large file's checking time.
    """
    hashes = {services.id_hash_of(parsed): number for number, _c, parsed, _d, _o in passed}
    mobiles = {checked.mobile: number for number, checked, _p, _d, _o in passed}
    taken_hashes: set[str] = set()
    taken_mobiles: set[str] = set()
    for chunk in _chunks(list(hashes), 500):
        taken_hashes.update(
            session.exec(select(Volunteer.id_hash).where(Volunteer.id_hash.in_(chunk)))
        )
    for chunk in _chunks(list(mobiles), 500):
        taken_mobiles.update(session.exec(select(User.phone).where(User.phone.in_(chunk))))
    problems = []
    for number, checked, parsed, _date, own in passed:
        if "id_number" not in own and services.id_hash_of(parsed) in taken_hashes:
            problems.append(Problem(number, "id_number", services.DUPLICATE_ID))
        if "mobile" not in own and checked.mobile in taken_mobiles:
            problems.append(Problem(number, "mobile", services.DUPLICATE_MOBILE))
    return problems


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _row_data(
    cells: dict[str, Any],
    townships: _Townships,
    scope,
    today: date,
    valid_days: int,
    problem,
) -> tuple[dict[str, Any], date | None]:
    """A roster row as the service's input (codes for labels); what cannot be mapped is a problem."""
    data: dict[str, Any] = {
        name: _text(cells.get(name))
        for name in ("name", "village", "employer", "party_organisation", "residence_village")
    }
    # ID number: a number cell has lost its last digits already (Excel keeps 15 significant ones).
    raw_id = cells.get("id_number")
    if isinstance(raw_id, int | float) and not isinstance(raw_id, bool) and len(_text(raw_id)) > 15:
        problem(
            "id_number",
            N_(
                "The ID number is stored as a number, so Excel has changed its last digits: "
                "format the column as text and type the number again."
            ),
        )
    data["id_number"] = _text(raw_id)
    data["mobile"] = _text(cells.get("mobile"))

    def mapped(name: str, table: dict[str, str], message: str, default: str = "") -> str:
        value = cells.get(name)
        if _blank(value):
            return default
        code = table.get(_key(_text(value)))
        if code is None:
            problem(name, message)
            return _text(value)
        return code

    data["id_type"] = mapped(
        "id_type",
        ID_TYPES,
        N_("Unknown document type: write 居民身份证 or another type from the template's list."),
        default=IdType.RESIDENT_ID.value,
    )
    status = cells.get("political_status")
    if isinstance(status, int | float) and not isinstance(status, bool):
        status = f"{int(status):02d}"  # Excel dropped the leading zero of 01
        cells = {**cells, "political_status": status}
    data["political_status"] = mapped(
        "political_status",
        POLITICAL,
        N_("Unknown political status: write a name or a two-digit code from the template's list."),
    )
    data["category"] = mapped(
        "category",
        CATEGORIES,
        N_("Unknown kind of volunteer: write one of the kinds in the template's list."),
    )
    data["sex"] = mapped("sex", SEXES, N_("Write 男 or 女."), default="") or None
    skills: list[str] = []
    for part in SKILL_SEPARATORS.split(_text(cells.get("skills"))):
        if not part:
            continue
        code = SKILLS.get(_key(part))
        if code is None:
            problem(
                "skills",
                N_("Unknown skill “%(skill)s”: use the skills in the template's list."),
                skill=part[:20],
            )
        elif code not in skills:
            skills.append(code)
    data["skills"] = skills
    # Township: a name or a code; township staff may leave it empty for their own.
    township = cells.get("township_code")
    if _blank(township):
        data["township_code"] = scope.township if not scope.everywhere else ""
        if not data["township_code"]:
            problem("township_code", N_("Write the township (its name or 9-digit code)."))
    else:
        code = townships.code(township)
        if code is None:
            problem(
                "township_code",
                N_("Unknown township: write one of the 19 township names or its 9-digit code."),
            )
            data["township_code"] = ""
        else:
            data["township_code"] = code
            if not scope.allows(code):
                problem(
                    "township_code",
                    N_("You can import volunteers of your own township only."),
                )
    dates: dict[str, date | None] = {}
    for name in ("birth_date", "report_date", "check_date"):
        value = cells.get(name)
        dates[name] = None
        if _blank(value):
            continue
        try:
            dates[name] = _date(value)
        except (ValueError, OverflowError):
            problem(name, N_("Write the date as 2024-03-01."))
    data["birth_date"] = dates["birth_date"]
    data["report_date"] = dates["report_date"]
    check_date = dates["check_date"]
    if check_date is not None:
        if check_date > today:
            problem("check_date", N_("The check date cannot be in the future."))
            check_date = None
        elif (today - check_date).days >= valid_days:
            check_date = None  # no longer valid: imported as signed up, to upload a new one
    return data, check_date


# The two steps -------------------------------------------------------------------------------


def upload_folder() -> Path:
    return Path(current_app.config["PORTAL_UPLOAD_DIR"]) / FOLDER


def _require_staff(actor: User) -> None:
    if not services.is_staff(actor):
        from portal.core.domain import NotAllowed

        raise NotAllowed(reason="role")


def check_roster(
    session: Session,
    *,
    actor: User,
    data: bytes,
    filename: str,
    ip: str | None = None,
    today: date | None = None,
) -> RosterImport:
    """Check an uploaded roster and keep it with its report; nothing is imported yet."""
    _require_staff(actor)
    raw_rows = read_rows(data)
    result = check_rows(session, raw_rows, actor=actor, today=today)
    checked = uploads.CheckedFile(data, XLSX_TYPE, ".xlsx", _sha256(data))
    uploads.keep(upload_folder(), checked)
    roster = RosterImport(
        uploaded_by=actor.id,
        filename=(Path(filename or "roster.xlsx").name or "roster.xlsx")[:120],
        sha256=checked.sha256,
        rows=result.rows,
        error_count=len(result.problems),
        errors=[p.as_json() for p in result.problems[:MAX_STORED_ERRORS]],
    )
    session.add(roster)
    session.flush()
    audit.record(
        session,
        action="volunteer.roster_checked",
        actor_id=actor.id,
        target_type="volunteer_import",
        target_id=roster.id,
        ip=ip,
        rows=result.rows,
        errors=len(result.problems),
        township=actor.township_code,
    )
    return roster


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def get_import(session: Session, actor: User, import_id: int) -> RosterImport:
    """An import its viewer may see: county-wide roles all; township staff their township's."""
    _require_staff(actor)
    roster = session.get(RosterImport, import_id)
    if roster is None:
        raise NotFound(reason="not_found")
    uploader = session.get(User, roster.uploaded_by)
    township = uploader.township_code if uploader and uploader.role == Role.TOWNSHIP_STAFF else None
    if actor.id != roster.uploaded_by:
        check_township(actor, township)
    return roster


def recent_imports(session: Session, actor: User, *, limit: int = 10) -> list[RosterImport]:
    """The latest imports the actor may see (their township's, or all for county-wide roles)."""
    statement = select(RosterImport).order_by(RosterImport.id.desc()).limit(limit)
    if actor.role not in COUNTY_WIDE_ROLES:
        same = select(User.id).where(
            User.role == Role.TOWNSHIP_STAFF, User.township_code == actor.township_code
        )
        statement = statement.where(
            (RosterImport.uploaded_by == actor.id) | RosterImport.uploaded_by.in_(same)
        )
    return list(session.exec(statement))


@dataclass(frozen=True)
class Confirmed:
    imported: int = 0
    verified: int = 0
    errors: int = 0  # rows that became wrong since the check: nothing imported


def confirm(
    session: Session,
    roster: RosterImport,
    *,
    actor: User,
    ip: str | None = None,
    today: date | None = None,
) -> Confirmed:
    """Import a checked roster: every row or none, once.

    The kept file is checked again first. If a row has become wrong (someone registered the
    same ID number or mobile meanwhile), the report is updated and nothing is imported; the
    caller commits that report.
    """
    _require_staff(actor)
    today = today or china_today()
    if roster.imported_at is not None:
        raise RosterError(N_("This roster is already imported."))
    if roster.error_count:
        raise RosterError(N_("This roster has errors: correct the file and upload it again."))
    path = upload_folder() / roster.sha256
    if not path.exists():
        raise RosterError(N_("The uploaded file is no longer kept: upload it again."))
    result = check_rows(session, read_rows(path.read_bytes()), actor=actor, today=today)
    if result.problems:
        roster.error_count = len(result.problems)
        roster.errors = [p.as_json() for p in result.problems[:MAX_STORED_ERRORS]]
        session.add(roster)
        session.flush()
        audit.record(
            session,
            action="volunteer.roster_checked",
            actor_id=actor.id,
            target_type="volunteer_import",
            target_id=roster.id,
            ip=ip,
            rows=result.rows,
            errors=len(result.problems),
            township=actor.township_code,
            rechecked=True,
        )
        return Confirmed(errors=len(result.problems))
    now = utcnow()
    # Claim the import first: of two confirmations at once, the second finds it taken.
    claimed = session.execute(
        update(RosterImport)
        .where(RosterImport.id == roster.id, RosterImport.imported_at.is_(None))
        .values(imported_at=now, imported_count=len(result.good))
    ).rowcount
    if not claimed:
        raise RosterError(N_("This roster is already imported."))
    try:
        with session.begin_nested():
            _insert(session, result.good, actor=actor, today=today, now=now)
    except IntegrityError:
        # A sign-up took a number, ID or mobile meanwhile: nothing of this import is kept.
        raise RosterError(N_("The portal is busy. Please submit again.")) from None
    townships = sorted({row.checked.township_code for row in result.good})
    audit.record(
        session,
        action="volunteer.roster_imported",
        actor_id=actor.id,
        target_type="volunteer_import",
        target_id=roster.id,
        ip=ip,
        imported=len(result.good),
        verified=result.verified,
        townships=townships[:19],
    )
    cache.bump(session, services.AREA)
    return Confirmed(imported=len(result.good), verified=result.verified)


def _insert(
    session: Session, rows: list[GoodRow], *, actor: User, today: date, now: datetime
) -> None:
    """One account and one record per row, in bulk (a roster may hold thousands of rows)."""
    if not rows:
        return
    users = [
        {
            "name": row.checked.name,
            "phone": row.checked.mobile,
            "email": None,
            "role": Role.VOLUNTEER.value,
            "township_code": None,
            "office": None,
            # Unusable: nobody knows a password; an admin gives the person a set-up link.
            "password_hash": "!" + secrets.token_urlsafe(16),
            "is_active": True,
            "is_demo": False,
            "session_version": 1,
            "created_at": now,
            "last_login_at": None,
            "password_changed_at": now,
            "notify_by_email": True,
            "notify_by_sms": True,
            "language": "zh_CN",
        }
        for row in rows
    ]
    # Plain multi-row INSERTs; the new ids are then read back by mobile (unique). RETURNING
    # in parameter order would make SQLite insert row by row.
    session.execute(insert(User.__table__), users)
    ids: dict[str, int] = {}
    mobiles = [user["phone"] for user in users]
    for chunk in _chunks(mobiles, 500):
        ids.update(
            (phone, user_id)
            for user_id, phone in session.execute(
                select(User.id, User.phone).where(User.phone.in_(chunk))
            )
        )
    user_ids = [ids[phone] for phone in mobiles]
    numbers = numbering.numbers_from(services.next_number(session, today.year))
    days = services.valid_days()
    records = []
    for row, user_id in zip(rows, user_ids, strict=True):
        identity = SimpleNamespace()
        services._identity(identity, row.parsed)
        checked = row.checked
        verified = row.check_date is not None
        records.append(
            {
                **{name: getattr(checked, name) for name in services.PROFILE_FIELDS},
                **vars(identity),
                "number": next(numbers),
                "user_id": user_id,
                "status": (Status.VERIFIED if verified else Status.APPLIED).value,
                "status_reason": None,
                "status_changed_at": now,
                "privacy_version": None,
                "agreement_version": None,
                "consented_at": None,
                "certificate_sha256": None,
                "certificate_type": None,
                "certificate_uploaded_at": None,
                "check_date": row.check_date,
                "check_expires": row.check_date + timedelta(days=days) if verified else None,
                "checked_by": actor.id if verified else None,
                "training_date": None,
                "source": "import",
                "created_at": now,
                "updated_at": now,
            }
        )
    session.execute(insert(Volunteer.__table__), records)


# The template --------------------------------------------------------------------------------

TEMPLATE_NOTES = (
    "填写说明",
    "1. 第一行为列名，请勿修改；从第三行起每行填写一名志愿者（第二行为示例，导入时自动跳过，可删除）。",
    "2. 必填：姓名、证件号码、手机号码、村（社区）、政治面貌、志愿者类别；乡镇（街道）由县级人员必填，乡镇工作人员可留空（即本乡镇）。",
    "3. 证件类型留空即为居民身份证；其他证件须填写出生日期和性别。证件号码请按文本填写（本模板已设为文本格式）。",
    "4. 政治面貌为中共党员或中共预备党员的，须填写党组织、居住村（社区）和报到日期（在职党员双报到）。",
    "5. 特长可填多项，用逗号或顿号分隔。日期格式如 2024-03-01。",
    "6. 填写了一年内的无犯罪记录核查日期的，导入后为“已审核”；否则为“已报名”，需本人上传无犯罪记录证明。",
    "7. 上传后系统逐行检查，全部无误并确认后才会导入。导入的志愿者需由管理员发送设置密码链接后登录，并在首次登录时同意隐私政策和志愿者协议。",
    "8. 单个文件不超过 5 MB、20000 行。",
)


def template_workbook(session: Session, *, today: date | None = None) -> bytes:
    """The roster template: Chinese column names, one example row, the lists to choose from."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    from portal.volunteers.idnumber import make_resident_id

    today = today or china_today()
    townships = list(session.exec(select(Township).order_by(Township.code)))
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "志愿者名册"
    sheet.append([header for _name, header in COLUMNS])
    example = {
        "name": "王小明",
        "id_type": ID_TYPE_NAMES[IdType.RESIDENT_ID],
        "id_number": make_resident_id("331124", date(1988, 5, 20), 21),
        "mobile": "13800000000",
        "township_code": townships[0].name if townships else "",
        "village": "城北社区",
        "political_status": "中共党员",
        "category": CATEGORY_NAMES[Category.PARTY_MEMBER],
        "employer": "松阳县某单位",
        "skills": "教学辅导、文体",
        "party_organisation": "某单位党支部",
        "residence_village": "城北社区",
        "report_date": (today - timedelta(days=30)).isoformat(),
        "check_date": (today - timedelta(days=10)).isoformat(),
        "note": "示例行：导入时自动跳过，可删除",
    }
    sheet.append([example.get(name, "") for name, _header in COLUMNS])
    bold = Font(bold=True)
    grey = PatternFill("solid", fgColor="EEEEEE")
    for cell in sheet[1]:
        cell.font = bold
    for cell in sheet[2]:
        cell.fill = grey
        cell.font = Font(italic=True, color="666666")
    sheet["A2"].comment = Comment("示例行，导入时跳过", "松阳县留守儿童关爱平台")
    sheet.freeze_panes = "A2"
    for index, (name, header) in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(10, 2 * len(header) + 4)
        if name in ("id_number", "mobile", "political_status"):
            sheet.column_dimensions[letter].number_format = "@"
            for row in (1, 2):
                sheet.cell(row=row, column=index).number_format = "@"
    lists = {
        "id_type": list(ID_TYPE_NAMES.values()),
        "township_code": [t.name for t in townships],
        "political_status": [name for _code, name in POLITICAL_STATUSES],
        "category": list(CATEGORY_NAMES.values()),
        "sex": list(SEX_NAMES.values()),
    }
    for name, values in lists.items():
        letter = get_column_letter(ORDER[name] + 1)
        choice = DataValidation(
            type="list",
            formula1='"' + ",".join(values) + '"',
            allow_blank=True,
            showErrorMessage=False,
        )
        sheet.add_data_validation(choice)
        choice.add(f"{letter}3:{letter}{MAX_ROWS + 1}")
    notes = workbook.create_sheet("填写说明")
    for line in TEMPLATE_NOTES:
        notes.append([line])
    notes["A1"].font = bold
    notes.append([])
    notes.append(["可填写的值"])
    notes.cell(row=notes.max_row, column=1).font = bold
    notes.append(["证件类型", *ID_TYPE_NAMES.values()])
    notes.append(["乡镇（街道）", *(f"{t.name}（{t.code}）" for t in townships)])
    notes.append(["政治面貌", *(f"{name}（{code}）" for code, name in POLITICAL_STATUSES)])
    notes.append(["志愿者类别", *CATEGORY_NAMES.values()])
    notes.append(["特长", *SKILL_NAMES.values()])
    notes.append(["性别", *SEX_NAMES.values()])
    notes.column_dimensions["A"].width = 16
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# Export --------------------------------------------------------------------------------------

EXPORT_HEADERS = (
    N_("Volunteer number"),
    N_("Name"),
    N_("ID number (masked)"),
    N_("Sex"),
    N_("Birth date"),
    N_("Mobile number"),
    N_("Township"),
    N_("Village or community"),
    N_("Political status"),
    N_("Kind"),
    N_("Employer or Party organisation"),
    N_("Skills"),
    N_("Status"),
    N_("Check date"),
    N_("Check valid until"),
    N_("Training date"),
    N_("Service hours"),
)


def _cell(sheet, value: Any):
    """A cell holding text as text: a value starting with "=" never becomes a formula."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"
    return cell


def export(
    session: Session,
    actor: User,
    filters: services.ListFilters,
    *,
    full_ids: bool = False,
    ip: str | None = None,
) -> tuple[bytes, int]:
    """The staff list's rows (its filters, the actor's townships) as .xlsx; audited.

    Only admins get the full ID numbers (`full_ids`); everyone else the masked copy.
    """
    from openpyxl import Workbook

    from portal.volunteers.hours import format_hours

    _require_staff(actor)
    if full_ids and actor.role != Role.ADMIN:
        from portal.core.domain import NotAllowed

        raise NotAllowed(reason="role")
    statement = services.list_statement(actor, filters)
    ids = statement.with_only_columns(Volunteer.id).order_by(None).subquery()
    minutes = dict(
        session.execute(
            select(ServiceRecord.volunteer_id, func.sum(ServiceRecord.minutes))
            .where(ServiceRecord.voided_at.is_(None), ServiceRecord.volunteer_id.in_(select(ids)))
            .group_by(ServiceRecord.volunteer_id)
        ).all()
    )
    rows = session.execute(
        statement.join(User, User.id == Volunteer.user_id).add_columns(User.phone)
    )
    townships = {t.code: t.name for t in session.exec(select(Township))}
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(gettext("Volunteers")[:31])
    headers = [gettext(h) for h in EXPORT_HEADERS]
    if full_ids:
        headers.insert(3, gettext("ID number (full)"))
    sheet.append(headers)
    labels = {
        "sex": {k: str(v) for k, v in services.SEX_LABELS.items()},
        "category": {k: str(v) for k, v in services.CATEGORY_LABELS.items()},
        "skill": {k: str(v) for k, v in services.SKILL_LABELS.items()},
        "status": {k: str(v) for k, v in services.STATUS_LABELS.items()},
    }
    count = 0
    for volunteer, phone in rows:
        count += 1
        values = [
            volunteer.number,
            volunteer.name,
            volunteer.id_masked,
            labels["sex"].get(volunteer.sex, volunteer.sex),
            volunteer.birth_date,
            phone or "",
            townships.get(volunteer.township_code, volunteer.township_code),
            volunteer.village,
            services.POLITICAL_CODES.get(volunteer.political_status, volunteer.political_status),
            labels["category"].get(volunteer.category, volunteer.category),
            volunteer.employer or "",
            "、".join(labels["skill"].get(s, s) for s in volunteer.skills or []),
            labels["status"].get(volunteer.status, str(volunteer.status)),
            volunteer.check_date,
            volunteer.check_expires,
            volunteer.training_date,
            float(format_hours(minutes.get(volunteer.id, 0) or 0)),
        ]
        if full_ids:
            values.insert(3, services.full_id_number(volunteer) or "")
        cells = [_cell(sheet, value) for value in values]
        for cell, value in zip(cells, values, strict=True):
            if isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
        sheet.append(cells)
    out = io.BytesIO()
    workbook.save(out)
    audit.record(
        session,
        action="volunteer.exported_with_ids" if full_ids else "volunteer.exported",
        actor_id=actor.id,
        ip=ip,
        rows=count,
        township=actor.township_code,
        filters={k: v for k, v in vars(filters).items() if v},
    )
    return out.getvalue(), count
