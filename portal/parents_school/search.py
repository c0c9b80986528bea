"""Lectures as a search source: every coming lecture, found by its title, topic, township,
venue, speaker, organiser and description, and marked as a lecture among the results.

A lecture leaves the index when it starts or is cancelled: `live_versions` no longer lists it
and the search catch-up job removes it. A lecture's version is its last change, so an edit by
its organiser is indexed again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

from portal.parents_school.models import Lecture, LectureStatus
from portal.places import Township
from portal.search.sources import Document, app_path
from portal.timeutil import utcnow

KIND = "lecture"
KINDS: Mapping[str, Any] = {KIND: _l("Parents' school lecture")}
# Every lecture is a family-education lecture of the parents' school: searched under both names.
AREA_WORDS = "家长学校 家庭教育讲座"


def _ints(ids: Iterable[str]) -> list[int]:
    return [int(i) for i in ids if str(i).isdigit()]


def _live(statement):
    return statement.where(Lecture.status == LectureStatus.SCHEDULED, Lecture.starts_at > utcnow())


def _version(lecture: Lecture) -> str:
    return lecture.updated_at.strftime("%Y%m%d%H%M%S%f")


class LectureSource:
    """The parents' school's coming lectures."""

    name = "lectures"

    @property
    def kinds(self) -> Mapping[str, Any]:
        return KINDS

    def live_versions(self, session: Session) -> dict[str, str]:
        rows = session.exec(_live(select(Lecture)))
        return {str(lecture.id): _version(lecture) for lecture in rows}

    def _rows(self, session: Session, ids: Iterable[str] | None):
        statement = _live(select(Lecture, Township).join(Township))
        if ids is not None:
            statement = statement.where(Lecture.id.in_(_ints(ids)))
        return session.exec(statement.order_by(Lecture.id))

    @staticmethod
    def _text(lecture: Lecture, township: Township) -> tuple[str, str]:
        """(summary, searched text), in Chinese: the language of the lectures themselves."""
        from portal.parents_school.public_forms import topic_label
        from portal.parents_school.public_views import lecture_office, lecture_when

        with force_locale("zh_CN"):
            topic, office, when = (
                topic_label(lecture.topic),
                lecture_office(lecture.office),
                lecture_when(lecture),
            )
        summary = f"{when} · {township.name} · {lecture.venue} · {topic}"
        body = "\n".join(
            part
            for part in (
                summary,
                f"主讲：{lecture.speaker}",
                lecture.speaker_bio or "",
                f"主办：{office}",
                lecture.audience or "",
                lecture.description or "",
                AREA_WORDS,
            )
            if part
        )
        return summary, body

    def documents(self, session: Session, ids: Iterable[str] | None = None) -> Iterable[Document]:
        for lecture, township in self._rows(session, ids):
            summary, body = self._text(lecture, township)
            yield Document(
                source=self.name,
                local_id=str(lecture.id),
                kind=KIND,
                version=_version(lecture),
                url=app_path("parents_school.lecture", lecture_id=lecture.id),
                title=lecture.title,
                summary=summary,
                body=body,
                published=lecture.starts_at,
            )

    def texts(self, session: Session, ids: Iterable[str]) -> dict[str, str]:
        return {
            str(lecture.id): self._text(lecture, township)[1]
            for lecture, township in self._rows(session, ids)
        }


source = LectureSource()
