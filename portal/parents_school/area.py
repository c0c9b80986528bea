"""The parents' school (家长学校) declares its area: its pages and home-page card."""

from flask_babel import lazy_gettext as _l

from portal.core.registry import AreaSpec, Card, NavLink, Queue

AREA = AreaSpec(
    name="parents_school",
    order=20,
    blueprint="portal.parents_school.views:bp",
    models="portal.parents_school.models",
    jobs="portal.parents_school.jobs",
    nav=(NavLink("parents_school.index", _l("Parents' school"), order=20),),
    card=Card(
        endpoint="parents_school.index",
        title=_l("Parents' school"),
        summary=_l(
            "Free lectures by experts for parents and entrusted guardians, in every "
            "township. See the schedule and book a seat online, without an account."
        ),
        audience=_l("For parents, grandparents and entrusted guardians."),
        policy_clause="三（十）",
        policy_text="教育、民政、团县委、妇联等部门和乡镇(街道)应当每年聘请专家、学者向家长及委托监护人开讲座。",
    ),
    search_sources=("portal.parents_school.search:source",),
    sitemap="portal.parents_school.public_views:sitemap_entries",
    site_map="portal.parents_school.public_views:site_map_sections",
    home="portal.parents_school.public_views:home_block",
    demo="portal.parents_school.demo:load",
    queues=(
        Queue(
            name="parents_school.upcoming",
            label=_l("Lectures in the next 7 days"),
            roles=frozenset({"lecture_organiser"}),
            count="portal.parents_school.services:upcoming_count",
            endpoint="parents_school.manage",
        ),
        Queue(
            name="parents_school.feedback",
            label=_l("Guardians' opinions received in the last 7 days"),
            roles=frozenset({"lecture_organiser"}),
            count="portal.parents_school.services:recent_feedback_count",
            endpoint="parents_school.manage",
            hint=_l("On each lecture's page."),
        ),
    ),
)
