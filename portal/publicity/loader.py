"""`flask content load`: Markdown files with front matter in content/ become published items.

Idempotent by slug: a new file creates an item, a changed file publishes a new revision, an
unchanged file is left alone, and an item a person has edited in the portal is not overwritten.
One bad file is reported with its name and line and does not stop the others.

An item's date (the one lists, feeds, search years and sorting use) is the document's own:
`published_at` (发布日期) when the file gives it, else `written` (成文日期), else `publish_at`.
A file with none of them is refused; the day it is loaded is never its date.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import yaml
from sqlmodel import Session, select

from portal import audit
from portal.publicity import services
from portal.publicity.models import Item, Kind
from portal.timeutil import SHANGHAI

REQUIRED = ("slug", "kind", "title", "summary")
META_KEYS = tuple(dict.fromkeys(k for names in services.META_FIELDS.values() for k in names))
OPTIONAL = {
    *META_KEYS,
    "published_at",
    "date_precision",
    "policy",
    "related",
    "publish_at",
    "expire_at",
}
# Where the document's date comes from, first found first.
DATE_KEYS = ("published_at", "written", "publish_at")
# Policies first, so interpretations can point at them.
KIND_ORDER = {Kind.POLICY: 0, Kind.LAW: 1}


class ContentFileError(Exception):
    def __init__(self, path: Path, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message = path, line, message


@dataclass
class ContentFile:
    path: Path
    front: dict
    body: str
    digest: str

    @property
    def kind(self) -> Kind:
        return Kind(self.front["kind"])


@dataclass
class LoadResult:
    path: Path
    outcome: str  # created | updated | unchanged | kept | error
    message: str = ""


def _key_line(lines: list[str], key: str) -> int:
    for number, line in enumerate(lines, start=2):
        if line.split(":", 1)[0].strip() == key:
            return number
    return 2


def _as_datetime(value, path: Path, line: int, key: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value
    if isinstance(value, date):
        return datetime.combine(value, time(9, 0), tzinfo=SHANGHAI)
    raise ContentFileError(path, line, f"{key} must be a date like 2026-11-29")


def parse(path: Path) -> ContentFile:
    """Read one content file; ContentFileError names the file and line of any problem."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ContentFileError(path, 1, "the file is not UTF-8") from error
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise ContentFileError(path, 1, "the file must start with a line '---' (front matter)")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise ContentFileError(path, 1, "the front matter is not closed by a line '---'") from None
    front_lines = lines[1:end]
    try:
        front = yaml.safe_load("\n".join(front_lines)) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        problem = getattr(error, "problem", None) or str(error)
        raise ContentFileError(path, line, f"front matter is not valid YAML: {problem}") from error
    if not isinstance(front, dict):
        raise ContentFileError(path, 2, "the front matter must be 'key: value' lines")
    for key in REQUIRED:
        if front.get(key) in (None, ""):
            raise ContentFileError(path, end + 1, f"'{key}' is missing from the front matter")
    for key in front:
        if key not in REQUIRED and key not in OPTIONAL:
            raise ContentFileError(path, _key_line(front_lines, key), f"unknown key '{key}'")
    try:
        kind = Kind(str(front["kind"]))
    except ValueError:
        allowed = ", ".join(k.value for k in Kind)
        raise ContentFileError(
            path, _key_line(front_lines, "kind"), f"kind must be one of: {allowed}"
        ) from None
    for key in ("published_at", "written", "publish_at", "expire_at"):
        if front.get(key) is not None:
            front[key] = _as_datetime(front[key], path, _key_line(front_lines, key), key)
    if not any(front.get(key) for key in DATE_KEYS):
        raise ContentFileError(
            path,
            end + 1,
            "the document's date is missing: give published_at (发布日期) or written (成文日期)",
        )
    if front.get("date_precision") not in (None, "day", "year"):
        raise ContentFileError(
            path, _key_line(front_lines, "date_precision"), "date_precision must be day or year"
        )
    if front.get("date_precision") == "year":
        # Only the year is known: the date is kept as the year's last day (it sorts within its
        # year) and shown as the year alone.
        for key in DATE_KEYS:
            if front.get(key):
                front[key] = front[key].replace(month=12, day=31)
    if "related" in front and not isinstance(front["related"], list):
        raise ContentFileError(path, _key_line(front_lines, "related"), "related must be a list")
    if kind == Kind.INTERPRETATION and not front.get("policy"):
        raise ContentFileError(path, end + 1, "an interpretation needs 'policy: <slug>'")
    body = "\n".join(lines[end + 1 :]).strip() + "\n"
    if "<" in body and any(tag in body.lower() for tag in ("<script", "<iframe", "<div", "<span")):
        raise ContentFileError(path, end + 2, "raw HTML is not allowed in content; use Markdown")
    return ContentFile(path, front, body, hashlib.sha256(raw).hexdigest())


def date_precision(front: dict) -> str:
    """How much of the date is known: "day", or "year" when the front matter says so."""
    return "year" if front.get("date_precision") == "year" else "day"


def document_date(front: dict) -> datetime:
    """The document's publication date: 发布日期, else 成文日期, else its publish-at time."""
    return next(front[key] for key in DATE_KEYS if front.get(key))


def _draft(content: ContentFile) -> services.Draft:
    front = content.front
    meta = {k: front[k] for k in META_KEYS if front.get(k) not in (None, "")}
    if front.get("related"):
        meta["related"] = front["related"]
    return services.draft(
        title=str(front["title"]),
        summary=str(front["summary"]),
        body=content.body,
        meta=meta,
        publish_at=front.get("publish_at"),
        expire_at=front.get("expire_at"),
        policy_slug=front.get("policy"),
    )


def _publish_directly(session: Session, item: Item, content: ContentFile) -> None:
    services.publish_shipped(
        session,
        item=item,
        draft=_draft(content),
        published_at=document_date(content.front),
        date_precision=date_precision(content.front),
        source_file=str(content.path)[-200:],
        source_hash=content.digest,
    )


def load_file(session: Session, content: ContentFile) -> str:
    slug = str(content.front["slug"]).strip().lower()
    if not services.SLUG_RE.match(slug):
        raise ContentFileError(content.path, 2, f"slug '{slug}' may use a-z, 0-9 and hyphens")
    item = session.exec(select(Item).where(Item.slug == slug)).first()
    if item is None:
        item = Item(slug=slug, kind=content.kind)
        session.add(item)
        session.flush()
        _publish_directly(session, item, content)
        return "created"
    if item.kind != content.kind:
        raise ContentFileError(content.path, 2, f"slug '{slug}' is already a {item.kind}")
    if item.source_hash == content.digest:
        return "unchanged"
    working = services.working_revision(session, item)
    if working is not None and working.created_by is not None:
        return "kept"  # a person has edited it in the portal: theirs wins
    _publish_directly(session, item, content)
    return "updated"


def load_directory(database, directory: Path, *, report=print) -> list[LoadResult]:
    """Load every *.md under the directory, each file in its own transaction."""
    results: list[LoadResult] = []
    parsed: list[ContentFile] = []
    for path in sorted(directory.rglob("*.md")):
        try:
            parsed.append(parse(path))
        except ContentFileError as error:
            results.append(LoadResult(path, "error", str(error)))
    parsed.sort(key=lambda c: (KIND_ORDER.get(c.kind, 5), str(c.path)))
    for content in parsed:
        try:
            with database.transaction() as session:
                outcome = load_file(session, content)
                if outcome in ("created", "updated"):
                    audit.record(
                        session,
                        action=f"content.loaded.{outcome}",
                        target_type="item",
                        target_id=content.front["slug"],
                    )
            results.append(LoadResult(content.path, outcome))
        except ContentFileError as error:
            results.append(LoadResult(content.path, "error", str(error)))
        except services.PublicityError as error:
            where = f"{error.field}: " if error.field else ""
            results.append(LoadResult(content.path, "error", f"{content.path}:2: {where}{error}"))
    for result in sorted(results, key=lambda r: str(r.path)):
        report(result)
    return results
