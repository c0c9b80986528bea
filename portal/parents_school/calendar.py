"""Lectures as iCalendar files (RFC 5545): one lecture, or a feed a phone's calendar follows.

Written by hand: a handful of properties, escaped and folded as the RFC says (CRLF line
endings, lines of at most 75 octets, folded on UTF-8 character boundaries). Times are in UTC
("Z"), which every calendar shows in its own zone. Each event carries two reminders (a day and
two hours before); a cancelled lecture stays in the feed with STATUS:CANCELLED, so calendars
that had it mark it cancelled instead of keeping a lecture that will not happen.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from portal.parents_school.models import Lecture, LectureStatus

PRODID = "-//Songyang County//Parents' school lectures//ZH"
REMINDERS = ("-P1D", "-PT2H")
MAX_OCTETS = 75


def escape(text: str) -> str:
    """A TEXT value: backslash, semicolon, comma and line breaks escaped."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """A content line folded into pieces of at most 75 octets (continuations start with a
    space), never inside a UTF-8 character."""
    pieces: list[str] = []
    current, size, limit = [], 0, MAX_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            pieces.append("".join(current))
            current, size, limit = [], 0, MAX_OCTETS - 1  # the leading space counts
        current.append(char)
        size += width
    pieces.append("".join(current))
    return "\r\n ".join(pieces)


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def uid(lecture: Lecture, base_url: str) -> str:
    """Stable per lecture: the same event when the lecture changes or is cancelled."""
    host = urlsplit(base_url).hostname or "portal"
    return f"lecture-{lecture.id}@{host}"


def _event(lecture: Lecture, *, url: str, base_url: str, texts: dict[str, str]) -> list[str]:
    cancelled = lecture.status == LectureStatus.CANCELLED
    summary = lecture.title
    if cancelled:
        summary = f"{texts['cancelled']}: {summary}"
    description = "\n".join(
        part
        for part in (
            f"{texts['topic']}: {texts['topic_label']}",
            f"{texts['speaker']}: {lecture.speaker}",
            f"{texts['organiser']}: {texts['office_label']}",
            lecture.description or "",
            f"{texts['cancel_reason']}: {lecture.cancel_reason}"
            if cancelled and lecture.cancel_reason
            else "",
            url,
        )
        if part
    )
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid(lecture, base_url)}",
        f"DTSTAMP:{stamp(lecture.updated_at)}",
        f"LAST-MODIFIED:{stamp(lecture.updated_at)}",
        f"CREATED:{stamp(lecture.created_at)}",
        f"DTSTART:{stamp(lecture.starts_at)}",
        f"DTEND:{stamp(lecture.ends_at)}",
        f"SUMMARY:{escape(summary)}",
        f"LOCATION:{escape(texts['location'])}",
        f"DESCRIPTION:{escape(description)}",
        f"URL:{url}",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        "TRANSP:OPAQUE",
    ]
    if not cancelled:
        for trigger in REMINDERS:
            lines += [
                "BEGIN:VALARM",
                "ACTION:DISPLAY",
                f"TRIGGER:{trigger}",
                f"DESCRIPTION:{escape(texts['reminder'] + lecture.title)}",
                "END:VALARM",
            ]
    lines.append("END:VEVENT")
    return lines


def calendar(
    events: Iterable[tuple[Lecture, str, dict[str, str]]], *, base_url: str, name: str
) -> bytes:
    """An iCalendar file of these lectures: (lecture, its absolute URL, its texts) each.

    `texts` holds the words in the reader's language: topic, speaker, organiser, cancelled,
    cancel_reason, reminder (a prefix), and the lecture's topic_label, office_label and
    location.
    """
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape(name)}",
        "X-WR-TIMEZONE:Asia/Shanghai",
    ]
    for lecture, url, texts in events:
        lines += _event(lecture, url=url, base_url=base_url, texts=texts)
    lines.append("END:VCALENDAR")
    return ("\r\n".join(fold(line) for line in lines) + "\r\n").encode("utf-8")
