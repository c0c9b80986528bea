"""Public pages of the parents' school (家长学校): the schedule, a lecture and its seats,
booking a seat without an account, finding and cancelling a booking, calendar files.

A booking is never readable from an address alone: its code is a secret. Right after booking,
and after the code and mobile number were entered, the booking's id is kept in the visitor's
signed session and the browser is sent to `/lectures/booking`, which shows the booking held
there (and nothing to anyone else). The rules themselves live in `booking`.
"""

from __future__ import annotations

import calendar as month_grid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import segno
from flask import Response, abort, current_app, flash, render_template, request
from flask import session as browser_session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import func
from sqlmodel import Session, select

from portal.auth.labels import OFFICE_LABELS, office_label
from portal.auth.models import Office
from portal.cache import cached_page
from portal.core.domain import DomainError
from portal.core.registry import SitemapEntry, SiteMapSection, area
from portal.db import get_session
from portal.extensions import limiter
from portal.i18n import format_time
from portal.pagination import paginate
from portal.parents_school import booking
from portal.parents_school import calendar as ics
from portal.parents_school.booking import (
    RELATION_LABELS,
    STATUS_LABELS,
    BookingError,
    InvalidBooking,
)
from portal.parents_school.models import TOPICS, Booking, BookingStatus, Lecture, LectureStatus
from portal.parents_school.public_forms import (
    TOPIC_LABELS,
    BookingForm,
    FindBookingForm,
    topic_label,
)
from portal.parents_school.views import bp
from portal.places import township_choices
from portal.security import configured_limit, public
from portal.timeutil import SHANGHAI, utcnow
from portal.web import absolute_url, flash_error, form_error, page_number, page_size, render
from portal.web import see_other as redirect_to

AREA = "parents_school"
HELD = "parents_school_booking"  # the session key of the booking this browser may see
HOME_LECTURES = 4
FEED_PAST_DAYS = 30  # a feed keeps recent lectures, so calendars do not drop them at once
MONTH_LENGTH = 7  # "2026-12"


_booking_limit = configured_limit("PORTAL_BOOKING_RATE_LIMIT")


def _townships(session: Session) -> dict[str, str]:
    return dict(township_choices(session))


def _labels(session: Session) -> dict:
    return {
        "townships": _townships(session),
        "topic_labels": TOPIC_LABELS,
        "office_labels": OFFICE_LABELS,
        "relation_labels": RELATION_LABELS,
        "status_labels": STATUS_LABELS,
    }


def _lecture_or_404(session: Session, lecture_id: int) -> Lecture:
    lecture = session.get(Lecture, lecture_id)
    if lecture is None:
        abort(404)
    return lecture


@bp.app_template_global()
def lecture_when(lecture: Lecture) -> str:
    """When a lecture takes place, in China: its day, start and end time."""
    starts = lecture.starts_at.astimezone(SHANGHAI)
    ends = lecture.ends_at.astimezone(SHANGHAI)
    if ends.date() == starts.date():
        return f"{format_time(starts)}–{ends:%H:%M}"
    return f"{format_time(starts)} – {format_time(ends)}"


@bp.app_template_global()
def lecture_hhmm(value: datetime) -> str:
    return f"{value.astimezone(SHANGHAI):%H:%M}"


@bp.app_template_global()
def lecture_topic(topic: str) -> str:
    return topic_label(topic)


@bp.app_template_global()
def lecture_office(office: str) -> str:
    try:
        return office_label(office)
    except ValueError:
        return office


# Reading lectures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The schedule's filters, each dropped when it is not a known value."""

    township: str = ""
    topic: str = ""
    office: str = ""

    @classmethod
    def from_args(cls, args, townships: dict[str, str]) -> Filters:
        township = args.get("township", "")
        topic = args.get("topic", "")
        office = args.get("office", "")
        return cls(
            township=township if township in townships else "",
            topic=topic if topic in TOPICS else "",
            office=office if office in {o.value for o in Office} else "",
        )

    def apply(self, statement):
        if self.township:
            statement = statement.where(Lecture.township_code == self.township)
        if self.topic:
            statement = statement.where(Lecture.topic == self.topic)
        if self.office:
            statement = statement.where(Lecture.office == self.office)
        return statement

    @property
    def args(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


def upcoming_statement(now: datetime, filters: Filters = Filters()):  # noqa: B008
    return filters.apply(select(Lecture).where(Lecture.starts_at > now)).order_by(
        Lecture.starts_at, Lecture.id
    )


def next_lectures(session: Session, *, limit: int, now: datetime | None = None) -> list[Lecture]:
    """The next scheduled lectures (cancelled ones left out)."""
    statement = (
        upcoming_statement(now or utcnow())
        .where(Lecture.status == LectureStatus.SCHEDULED)
        .limit(limit)
    )
    return list(session.exec(statement))


def attendance(session: Session, lecture_ids: list[int]) -> dict[int, int]:
    """Seats checked in per lecture (walk-ins are on the lecture itself)."""
    if not lecture_ids:
        return {}
    rows = session.exec(
        select(Booking.lecture_id, func.coalesce(func.sum(Booking.attended), 0))
        .where(Booking.lecture_id.in_(lecture_ids))
        .group_by(Booking.lecture_id)
    )
    return {lecture_id: int(total) for lecture_id, total in rows}


def _month(value: str | None, today: date) -> date:
    """The first day of ?month=YYYY-MM (this month when it is missing or wrong)."""
    if value and len(value) == MONTH_LENGTH and value[4] == "-":
        year, month = value[:4], value[5:]
        if (
            year.isdigit()
            and month.isdigit()
            and 2000 <= int(year) <= 2100
            and 1 <= int(month) <= 12
        ):
            return date(int(year), int(month), 1)
    return today.replace(day=1)


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def _month_weeks(
    first: date, lectures: list[Lecture]
) -> list[list[tuple[date | None, list[Lecture]]]]:
    """The month as weeks from Monday: each day with its lectures (None outside the month)."""
    by_day: dict[date, list[Lecture]] = {}
    for lecture in lectures:
        by_day.setdefault(lecture.starts_at.astimezone(SHANGHAI).date(), []).append(lecture)
    weeks = month_grid.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
    return [
        [(day, by_day.get(day, [])) if day.month == first.month else (None, []) for day in week]
        for week in weeks
    ]


def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


# The schedule ----------------------------------------------------------------------------------


@bp.route("/parents-school/")
@public
@cached_page(AREA)
def index():
    session = get_session()
    return render(
        "parents_school/index.html",
        card=area(AREA).card,
        lectures=next_lectures(session, limit=HOME_LECTURES),
        **_labels(session),
    )


@bp.route("/lectures/")
@public
@cached_page(AREA, query=("township", "topic", "office", "view", "month", "page"))
def schedule():
    session = get_session()
    labels = _labels(session)
    filters = Filters.from_args(request.args, labels["townships"])
    now = utcnow()
    view = request.args.get("view", "")
    context: dict = {"filters": filters, "now": now, **labels}
    if "month" in request.args or view == "month":
        first = _month(request.args.get("month"), now.astimezone(SHANGHAI).date())
        after = _next_month(first)
        statement = filters.apply(
            select(Lecture).where(
                Lecture.starts_at >= _local_midnight(first),
                Lecture.starts_at < _local_midnight(after),
            )
        ).order_by(Lecture.starts_at, Lecture.id)
        lectures = list(session.exec(statement))
        context.update(
            view="month",
            month=first,
            previous_month=(first - timedelta(days=1)).replace(day=1),
            next_month=after,
            weeks=_month_weeks(first, lectures),
            lectures=lectures,
            attended=attendance(session, [lec.id for lec in lectures if lec.starts_at <= now]),
        )
    elif view == "past":
        statement = filters.apply(select(Lecture).where(Lecture.starts_at <= now)).order_by(
            Lecture.starts_at.desc(), Lecture.id.desc()
        )
        page = paginate(session, statement, page=page_number(), per_page=page_size())
        context.update(
            view="past", page=page, attended=attendance(session, [lec.id for lec in page.items])
        )
    else:
        page = paginate(
            session, upcoming_statement(now, filters), page=page_number(), per_page=page_size()
        )
        context.update(view="upcoming", page=page)
    return render("parents_school/schedule.html", block="results", **context)


@bp.route("/lectures/<int:lecture_id>")
@public
@cached_page(AREA)
def lecture(lecture_id: int):
    session = get_session()
    found = _lecture_or_404(session, lecture_id)
    now = utcnow()
    return render(
        "parents_school/lecture.html",
        lecture=found,
        now=now,
        attended=attendance(session, [found.id]).get(found.id, 0) if found.starts_at <= now else 0,
        waiting=booking.waiting_count(session, found.id),
        **_labels(session),
    )


@bp.route("/lectures/<int:lecture_id>/seats")
@public
@cached_page(AREA)  # every booking and cancellation bumps the area's version
def seats(lecture_id: int):
    session = get_session()
    found = _lecture_or_404(session, lecture_id)
    return render(
        "parents_school/_seats.html",
        lecture=found,
        now=utcnow(),
        waiting=booking.waiting_count(session, found.id),
    )


# Booking -------------------------------------------------------------------------------------


def _hold(booking_id: int, *, new: bool) -> None:
    """Let this browser see the booking (its code and mobile were just given)."""
    browser_session[HELD] = {"id": booking_id, "new": new}


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/lectures/<int:lecture_id>/book", methods=["GET", "POST"])
@limiter.limit(_booking_limit, methods=["POST"])
@public
def book(lecture_id: int):
    session = get_session()
    found = _lecture_or_404(session, lecture_id)
    form = BookingForm()
    form.set_townships(township_choices(session))
    if request.method == "GET":
        form.township_code.data = found.township_code
    closed = None
    try:
        booking.check_open(found, utcnow())
    except BookingError as error:
        closed = error.translated()
    if request.method == "POST":
        if form.validate():
            try:
                outcome = booking.book(session, found.id, form.data_for_booking())
            except DomainError as error:
                form_error(form, error)
            else:
                if not outcome.created:
                    return _private(
                        render(
                            "parents_school/booking_existing.html",
                            lecture=found,
                            existing=outcome.booking,
                            position=outcome.position,
                            **_labels(session),
                        )
                    )
                _hold(outcome.booking.id, new=True)
                return redirect_to("parents_school.booking")
        else:
            # The form's own checks failed (a hidden character, the CSRF field): show the rules'
            # verdict on the other fields too.
            try:
                booking.check_input(session, form.data_for_booking())
            except InvalidBooking as error:
                form_error(form, error)  # each problem on a field not marked yet
    return _private(
        render(
            "parents_school/book.html",
            form=form,
            lecture=found,
            closed=closed,
            status=422 if request.method == "POST" else 200,
            **_labels(session),
        )
    )


def _held_booking(session: Session) -> Booking | None:
    held = browser_session.get(HELD)
    if not isinstance(held, dict) or not isinstance(held.get("id"), int):
        return None
    return session.get(Booking, held["id"])


def qr_data_uri(code: str) -> str:
    """The booking code as a QR code (an SVG data URI: the CSP allows data: images)."""
    return segno.make(code, error="m", micro=False).svg_data_uri(scale=8, border=2)


@bp.route("/lectures/booking", endpoint="booking")
@public
def booking_page():
    session = get_session()
    held = _held_booking(session)
    if held is None:
        return redirect_to("parents_school.manage_booking")
    new = bool(browser_session[HELD].get("new"))
    if new:
        browser_session[HELD] = {"id": held.id, "new": False}  # "booked" is said once
    found = session.get(Lecture, held.lecture_id)
    return _private(
        render(
            "parents_school/booking.html",
            booking=held,
            lecture=found,
            new=new,
            position=booking.waitlist_position(session, held),
            qr=qr_data_uri(held.code),
            can_cancel=held.status != BookingStatus.CANCELLED and found.starts_at > utcnow(),
            **_labels(session),
        )
    )


@bp.route("/lectures/my-booking", methods=["GET", "POST"])
@limiter.limit(_booking_limit, methods=["POST"])
@public
def manage_booking():
    session = get_session()
    form = FindBookingForm()
    if request.method == "GET" and request.args.get("code"):
        form.code.data = request.args["code"][:12]
    if request.method == "POST":
        found = None
        if form.validate():
            found = booking.find(session, form.code.data, form.mobile.data)
        if found is not None:
            _hold(found.id, new=False)
            return redirect_to("parents_school.booking")
        # One answer for a wrong code, a wrong mobile and both: nothing about which was wrong.
        form.form_errors.append(
            _("No booking matches this code and mobile number. Check both and try again.")
        )
    return _private(
        render(
            "parents_school/booking_find.html",
            form=form,
            status=422 if request.method == "POST" else 200,
        )
    )


@bp.route("/lectures/booking/cancel", methods=["GET", "POST"])
@limiter.limit(_booking_limit, methods=["POST"])
@public
def cancel_booking():
    session = get_session()
    held = _held_booking(session)
    if held is None:
        return redirect_to("parents_school.manage_booking")
    found = session.get(Lecture, held.lecture_id)
    if request.method == "POST":
        try:
            booking.cancel(session, held)
        except DomainError as error:
            flash_error(error)
        else:
            flash(_("Your booking is cancelled. Thank you for telling us."), "success")
        return redirect_to("parents_school.booking")
    return _private(
        render(
            "parents_school/booking_cancel.html", booking=held, lecture=found, **_labels(session)
        )
    )


@bp.route("/lectures/booking/forget", methods=["POST"])
@public
def forget_booking():
    """Stop showing the booking on this device (a phone shared in the family)."""
    browser_session.pop(HELD, None)
    flash(_("This phone no longer shows the booking. Keep the code to find it again."), "info")
    return redirect_to("parents_school.schedule")


# Calendar files -----------------------------------------------------------------------------


def _event_texts(lecture: Lecture, townships: dict[str, str]) -> dict[str, str]:
    return {
        "topic": _("Topic"),
        "speaker": _("Speaker"),
        "organiser": _("Organised by"),
        "cancelled": _("Cancelled"),
        "cancel_reason": _("Reason"),
        "reminder": _("Parents' school lecture: "),
        "topic_label": topic_label(lecture.topic),
        "office_label": lecture_office(lecture.office),
        "location": f"{townships.get(lecture.township_code, '')} {lecture.venue}".strip(),
    }


def _ics(lectures: list[Lecture], *, name: str, filename: str | None = None) -> Response:
    townships = _townships(get_session())
    base_url = current_app.config["PORTAL_BASE_URL"]
    body = ics.calendar(
        (
            (
                lec,
                absolute_url("parents_school.lecture", lecture_id=lec.id),
                _event_texts(lec, townships),
            )
            for lec in lectures
        ),
        base_url=base_url,
        name=name,
    )
    response = Response(body, mimetype="text/calendar")
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.route("/lectures/<int:lecture_id>.ics")
@public
@cached_page(AREA)
def lecture_ics(lecture_id: int):
    found = _lecture_or_404(get_session(), lecture_id)
    return _ics([found], name=found.title, filename=f"lecture-{found.id}.ics")


@bp.route("/lectures.ics")
@public
@cached_page(AREA, query=("township", "topic", "office"))
def feed_ics():
    session = get_session()
    townships = _townships(session)
    filters = Filters.from_args(request.args, townships)
    since = utcnow() - timedelta(days=FEED_PAST_DAYS)
    lectures = list(session.exec(upcoming_statement(since, filters)))
    name = _("Songyang parents' school lectures")
    if filters.township:
        name = f"{name} · {townships[filters.township]}"
    return _ics(lectures, name=name)


# The area's pieces for the home page, the sitemap and the site map page -----------------------


def home_block(session: Session) -> Markup:
    """The next lectures, for the home page."""
    html = render_template(
        "parents_school/_home.html",
        lectures=next_lectures(session, limit=HOME_LECTURES),
        **_labels(session),
    )
    return Markup(html)  # noqa: S704 - rendered by Jinja with autoescaping


def sitemap_entries(session: Session):
    """The schedule and every upcoming lecture, for /sitemap.xml."""
    from flask import url_for

    yield SitemapEntry(url_for("parents_school.index"))
    yield SitemapEntry(url_for("parents_school.schedule"))
    for found in session.exec(upcoming_statement(utcnow())):
        yield SitemapEntry(url_for("parents_school.lecture", lecture_id=found.id), found.updated_at)


def site_map_sections(session: Session) -> list[SiteMapSection]:
    from flask import url_for

    return [
        SiteMapSection(
            _l("Parents' school"),
            url_for("parents_school.index"),
            (
                (_l("Lecture schedule"), url_for("parents_school.schedule")),
                (_l("Find or cancel my booking"), url_for("parents_school.manage_booking")),
                (_l("Lectures in your calendar"), url_for("parents_school.feed_ics")),
            ),
        )
    ]
