"""The parents' school's public pages: the landing page, the schedule (list, month calendar,
past lectures), its filters and htmx block, a lecture and its seats, the home block, the
sitemaps and search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from portal.auth.models import Role, User
from portal.parents_school import booking
from portal.parents_school.models import Booking, Lecture, LectureStatus
from portal.search import catch_up, sync_items
from portal.timeutil import utcnow
from tests.conftest import make_user, page_text

XIPING = "331124001"  # 西屏街道
GUSHI = "331124101"  # 古市镇


def make_lecture(
    session,
    *,
    starts_in: timedelta = timedelta(days=3),
    starts_at: datetime | None = None,
    capacity: int = 40,
    **fields,
) -> Lecture:
    """A lecture row, as an organiser would have created it (committed)."""
    organiser = session.exec(select(User).where(User.role == Role.LECTURE_ORGANISER)).first()
    organiser = organiser or make_user(session, role=Role.LECTURE_ORGANISER, name="刘组织")
    starts = starts_at or utcnow().replace(microsecond=0) + starts_in
    values = {
        "title": "隔代教育：祖辈怎样陪孩子写作业",
        "topic": "skipped_generation",
        "speaker": "王丽华",
        "speaker_bio": "松阳县实验小学高级教师，从事家庭教育指导十五年。",
        "township_code": XIPING,
        "venue": "城北社区儿童之家",
        "capacity": capacity,
        "audience": "祖父母、外祖父母和其他受委托监护人",
        "description": "讲讲祖辈带孩子的常见难处，\n以及怎样和在外打工的父母一起配合。",
        "office": "education",
        **fields,
    }
    row = Lecture(
        starts_at=starts,
        ends_at=starts + timedelta(hours=1, minutes=30),
        created_by=organiser.id,
        **values,
    )
    session.add(row)
    session.commit()
    return row


def guardian(n: int = 1, **overrides) -> dict:
    data = {
        "name": "张秀英",
        "mobile": f"137{n:08d}",
        "relation": "grandparent",
        "township_code": XIPING,
        "village": "城北社区",
        "seats": "1",
    }
    data.update(overrides)
    return data


def book_directly(app, session, lecture: Lecture, n: int, **overrides):
    with app.test_request_context():
        outcome = booking.book(session, lecture.id, guardian(n, **overrides))
    session.commit()
    return outcome


# The landing page and the schedule -----------------------------------------------------------


def test_landing_page_quotes_the_policy_explains_booking_and_lists_next_lectures(client, session):
    make_lecture(session, title="亲子沟通小课堂", topic="communication")
    text = page_text(client.get("/parents-school/"))
    assert "三（十）" in text and "聘请专家、学者向家长及委托监护人开讲座" in text
    assert "怎样预约" in text and "无需注册账号" in text
    assert "亲子沟通小课堂" in text
    html = client.get("/parents-school/").get_data(as_text=True)
    assert 'href="/lectures/"' in html
    assert "不可在线" not in text and "Not online yet" not in text


def test_schedule_lists_coming_lectures_with_seats_links_and_cancelled_marked(client, session):
    talk = make_lecture(session)
    make_lecture(session, title="防溺水安全课", topic="safety", status=LectureStatus.CANCELLED)
    make_lecture(session, title="去年的讲座", starts_in=timedelta(days=-30))
    response = client.get("/lectures/")
    text, html = page_text(response), response.get_data(as_text=True)
    assert response.status_code == 200
    assert "隔代教育：祖辈怎样陪孩子写作业" in text and "西屏街道" in text and "王丽华" in text
    assert "防溺水安全课 已取消" in text
    assert "去年的讲座" not in text
    assert f'href="/lectures/{talk.id}/book"' in html
    assert "共 2 场讲座" in text


def test_schedule_filters_by_township_topic_and_office(client, session):
    make_lecture(session, title="西屏的隔代教育课")
    make_lecture(
        session,
        title="古市的安全课",
        township_code=GUSHI,
        topic="safety",
        office="womens_federation",
    )
    by_township = page_text(client.get(f"/lectures/?township={GUSHI}"))
    assert "古市的安全课" in by_township and "西屏的隔代教育课" not in by_township
    by_topic = page_text(client.get("/lectures/?topic=skipped_generation"))
    assert "西屏的隔代教育课" in by_topic and "古市的安全课" not in by_topic
    by_office = page_text(client.get("/lectures/?office=womens_federation"))
    assert "古市的安全课" in by_office and "西屏的隔代教育课" not in by_office
    # Unknown values filter nothing rather than failing.
    everything = page_text(client.get("/lectures/?township=999&topic=x&office=<b>"))
    assert "古市的安全课" in everything and "西屏的隔代教育课" in everything


def test_the_filters_work_as_a_plain_form_and_answer_htmx_with_the_results_block(client, session):
    make_lecture(session, title="古市的安全课", township_code=GUSHI, topic="safety")
    html = client.get("/lectures/").get_data(as_text=True)
    assert 'method="get" action="/lectures/"' in html and 'hx-target="#results"' in html
    partial = client.get(f"/lectures/?township={GUSHI}", headers={"HX-Request": "true"})
    body = partial.get_data(as_text=True)
    assert partial.status_code == 200
    assert body.lstrip().startswith('<section id="results"') and "<html" not in body
    assert "古市的安全课" in body
    assert "HX-Request" in partial.headers.get("Vary", "")


def test_month_calendar_is_a_table_grid_with_lectures_on_their_china_day(client, session):
    # 2026-12-04 17:00 UTC is 5 December, 01:00 in China.
    make_lecture(session, title="十二月的讲座", starts_at=datetime(2026, 12, 4, 17, 0, tzinfo=UTC))
    make_lecture(session, title="一月的讲座", starts_at=datetime(2027, 1, 9, 2, 0, tzinfo=UTC))
    response = client.get("/lectures/?month=2026-12")
    html, text = response.get_data(as_text=True), page_text(response)
    assert response.status_code == 200
    assert "2026年12月" in text and "<table" in html and html.count("<tr>") >= 6
    cell = html.split('<span class="day">5</span>', 1)[1].split("</td>", 1)[0]
    assert "01:00 十二月的讲座" in cell
    assert "一月的讲座" not in text
    assert 'href="/lectures/?month=2027-01"' in html and 'href="/lectures/?month=2026-11"' in html
    assert "一月的讲座" in page_text(client.get("/lectures/?month=2027-01"))
    # A wrong month shows this month instead of failing.
    assert client.get("/lectures/?month=2026-13").status_code == 200
    assert client.get("/lectures/?month=abcdefg").status_code == 200


def test_past_lectures_show_their_attendance(app, client, session):
    past = make_lecture(session, title="上个月的讲座", starts_in=timedelta(days=-20), walk_ins=3)
    make_lecture(
        session, title="取消了的讲座", starts_in=timedelta(days=-10), status=LectureStatus.CANCELLED
    )
    with app.test_request_context():
        b = booking.book(
            session, past.id, guardian(1, seats="2"), now=past.starts_at - timedelta(days=2)
        )
    b.booking.attended = 2
    session.add(b.booking)
    session.commit()
    text = page_text(client.get("/lectures/?view=past"))
    assert "上个月的讲座" in text
    assert "到场 5 人（预约到场 2 人，现场参加 3 人）" in text
    assert "取消了的讲座" in text and "这场讲座已取消" in text
    lecture_page = page_text(client.get(f"/lectures/{past.id}"))
    assert "到场 5 人" in lecture_page and "预约座位" not in lecture_page


# A lecture and its seats ----------------------------------------------------------------------


def test_lecture_page_shows_everything_a_guardian_needs(client, session):
    talk = make_lecture(session, starts_at=datetime(2030, 12, 5, 6, 30, tzinfo=UTC))
    response = client.get(f"/lectures/{talk.id}")
    text, html = page_text(response), response.get_data(as_text=True)
    for expected in (
        "隔代教育：祖辈怎样陪孩子写作业",
        "隔代教育",  # the topic
        "王丽华",
        "从事家庭教育指导十五年",
        "县教育局",
        "西屏街道",
        "城北社区儿童之家",
        "2030年12月5日（星期四） 14:30–16:00",  # China time
        "（北京时间）",
        "以及怎样和在外打工的父母一起配合",
        "祖父母、外祖父母和其他受委托监护人",
        "剩余座位 40",
    ):
        assert expected in text, expected
    assert f'hx-get="/lectures/{talk.id}/seats"' in html and 'hx-trigger="every 30s"' in html
    assert f'href="/lectures/{talk.id}.ics"' in html
    assert client.get("/lectures/999999").status_code == 404


def test_a_cancelled_lecture_says_so_and_offers_no_booking(client, session):
    talk = make_lecture(session, status=LectureStatus.CANCELLED, cancel_reason="主讲人生病。")
    text = page_text(client.get(f"/lectures/{talk.id}"))
    assert "本场讲座已取消" in text and "原因：主讲人生病。" in text
    assert "预约座位" not in text
    assert "本场讲座已取消" in page_text(client.get(f"/lectures/{talk.id}/seats"))


def test_seats_fragment_follows_bookings_although_pages_are_cached(app, client, session):
    talk = make_lecture(session, capacity=2)
    first = client.get(f"/lectures/{talk.id}/seats", headers={"HX-Request": "true"})
    assert first.status_code == 200 and "<html" not in first.get_data(as_text=True)
    assert "剩余座位 2" in page_text(first)
    book_directly(app, session, talk, 1, seats="2")
    full = page_text(client.get(f"/lectures/{talk.id}/seats", headers={"HX-Request": "true"}))
    assert "剩余座位 0" in full and "加入候补名单" in full
    book_directly(app, session, talk, 2)
    waiting = page_text(client.get(f"/lectures/{talk.id}/seats", headers={"HX-Request": "true"}))
    assert "候补人数 1" in waiting
    assert "剩余座位 0" in page_text(client.get(f"/lectures/{talk.id}"))


# The home page, sitemaps ----------------------------------------------------------------------


def test_home_page_shows_the_next_lectures(client, session):
    talk = make_lecture(session, title="青春期的孩子怎么沟通", topic="adolescence")
    make_lecture(session, title="已取消的讲座", status=LectureStatus.CANCELLED)
    response = client.get("/")
    text, html = page_text(response), response.get_data(as_text=True)
    assert "家长学校近期讲座" in text and "青春期的孩子怎么沟通" in text
    assert "已取消的讲座" not in text
    assert f'href="/lectures/{talk.id}"' in html
    assert "暂未在线开通" not in text


def test_home_page_says_so_when_no_lecture_is_scheduled(client):
    assert "目前没有已安排的讲座" in page_text(client.get("/"))


def test_sitemap_lists_the_schedule_and_coming_lectures(client, session):
    coming = make_lecture(session)
    past = make_lecture(session, starts_in=timedelta(days=-3))
    xml = client.get("/sitemap.xml").get_data(as_text=True)
    assert "http://localhost/lectures/</loc>" in xml
    assert f"http://localhost/lectures/{coming.id}</loc>" in xml
    assert f"http://localhost/lectures/{past.id}</loc>" not in xml
    site_map = client.get("/sitemap").get_data(as_text=True)
    assert 'href="/lectures/"' in site_map and 'href="/lectures/my-booking"' in site_map


# Search ------------------------------------------------------------------------------------


def _index(app, session) -> None:
    with app.app_context():
        catch_up(session)


def test_search_finds_coming_lectures_by_family_education_and_township_marked_as_lectures(
    app, client, session
):
    talk = make_lecture(session, title="祖辈带娃讲座")
    make_lecture(session, title="已经结束的讲座", starts_in=timedelta(days=-2))
    make_lecture(session, title="取消了的讲座", status=LectureStatus.CANCELLED)
    _index(app, session)
    for query in ("家庭教育", "西屏街道", "王丽华", "祖辈带娃"):
        response = client.get("/search", query_string={"q": query})
        text, html = page_text(response), response.get_data(as_text=True)
        assert "祖辈带娃讲座" in text, query
        assert f'href="/lectures/{talk.id}"' in html
        assert "家长学校讲座" in text  # the kind of the hit
        assert "已经结束的讲座" not in text and "取消了的讲座" not in text
    html = client.get("/search", query_string={"q": "家庭教育"}).get_data(as_text=True)
    assert '<option value="lecture">家长学校讲座</option>' in html
    only = page_text(client.get("/search", query_string={"q": "西屏街道", "kind": "lecture"}))
    assert "祖辈带娃讲座" in only


def test_a_lecture_leaves_search_when_it_is_cancelled(app, client, session):
    talk = make_lecture(session, title="祖辈带娃讲座")
    with app.app_context():
        sync_items(session, "lectures", [talk.id])
    assert "祖辈带娃讲座" in page_text(client.get("/search", query_string={"q": "祖辈带娃"}))
    talk.status = LectureStatus.CANCELLED
    talk.updated_at = utcnow()
    session.add(talk)
    session.commit()
    _index(app, session)
    assert "祖辈带娃讲座" not in page_text(client.get("/search", query_string={"q": "祖辈带娃"}))


def test_booking_rows_are_not_what_search_indexes(app, session):
    talk = make_lecture(session)
    book_directly(app, session, talk, 1)
    from portal.parents_school.search import source

    with app.app_context():
        documents = list(source.documents(session))
    assert [d.local_id for d in documents] == [str(talk.id)]
    assert "13700000001" not in documents[0].body and "张秀英" not in documents[0].body
    assert session.exec(select(Booking)).first() is not None
