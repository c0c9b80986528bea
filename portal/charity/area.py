"""Emergency aid (应急救助) declares its area: its pages and home-page card."""

from flask_babel import lazy_gettext as _l

from portal.core.registry import AreaSpec, Card, NavLink, Queue

AREA = AreaSpec(
    name="charity",
    order=40,
    blueprint="portal.charity.views:bp",
    models="portal.charity.models",
    jobs="portal.charity.jobs",
    demo="portal.charity.demo:load",
    nav=(NavLink("charity.index", _l("Emergency aid"), order=40),),
    robots_disallow=("/charity/staff/", "/charity/track", "/charity/apply/done"),
    card=Card(
        endpoint="charity.index",
        title=_l("Emergency aid"),
        summary=_l(
            "The county's policy asks charities to help a left-behind child in sudden "
            "hardship through special and named funds. Apply online without an account and "
            "follow the request with its tracking number."
        ),
        audience=_l("For guardians and those who apply on a child's behalf."),
        policy_clause="三（十一）",
        policy_text="慈善组织可通过专项基金、小额冠名基金等形式，探索开展留守儿童应急救助制度，在留守儿童遇到急难情况或突发意外时给予及时的关爱帮助。",
    ),
    queues=(
        Queue(
            name="charity.check",
            label=_l("Aid requests waiting for the township's check"),
            roles=frozenset({"township_staff", "county_staff"}),
            count="portal.charity.staff:waiting_check_count",
            endpoint="charity.staff_queue",
        ),
        Queue(
            name="charity.review",
            label=_l("Aid requests waiting for review"),
            roles=frozenset({"charity_staff"}),
            count="portal.charity.staff:waiting_review_count",
            endpoint="charity.staff_queue",
        ),
        Queue(
            name="charity.approval",
            label=_l("Aid requests waiting for your approval"),
            roles=frozenset({"charity_approver"}),
            count="portal.charity.staff:waiting_approval_count",
            endpoint="charity.staff_queue",
        ),
        Queue(
            name="charity.payable",
            label=_l("Approved aid ready to be paid"),
            roles=frozenset({"charity_staff"}),
            count="portal.charity.staff:payable_count",
            endpoint="charity.staff_queue",
            hint=_l("The public notice has ended, or the request is an emergency."),
        ),
    ),
)
