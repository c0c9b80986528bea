"""Publicity (宣传) declares itself: the special column, its review queue, search and sitemap."""

from flask_babel import lazy_gettext as _l

from portal.core.registry import AreaSpec, Card, NavLink, Queue

AREA = AreaSpec(
    name="publicity",
    order=10,
    blueprint="portal.publicity.views:bp",
    models="portal.publicity.models",
    jobs="portal.publicity.jobs",
    cli=("portal.publicity.cli:content_cli",),
    nav=(NavLink("publicity.index", _l("Policy and news"), order=10),),
    card=Card(
        endpoint="publicity.index",
        title=_l("Policy and news"),
        summary=_l(
            "Policies, laws, news and typical cases on the care and protection of "
            "left-behind children, published by the county."
        ),
        audience=_l("For everyone: parents working away, guardians, teachers and neighbours."),
        policy_clause="四（三）",
        policy_text="加大宣传力度，营造全社会关爱留守儿童的良好氛围。",
    ),
    queues=(
        Queue(
            name="publicity.review",
            label=_l("Items waiting for review"),
            roles=frozenset({"reviewer"}),
            count="portal.publicity.services:review_count",
            endpoint="publicity.review_queue",
        ),
        Queue(
            name="publicity.returned",
            label=_l("Your drafts sent back by a reviewer"),
            roles=frozenset({"editor", "reviewer"}),
            count="portal.publicity.services:returned_count",
            endpoint="publicity.manage",
        ),
    ),
    search_sources=("portal.publicity.search:source",),
    robots_disallow=("/publicity/manage/", "/publicity/review"),
    sitemap="portal.publicity.services:sitemap_entries",
    site_map="portal.publicity.views:site_map_sections",
    home="portal.publicity.views:home_block",
)
