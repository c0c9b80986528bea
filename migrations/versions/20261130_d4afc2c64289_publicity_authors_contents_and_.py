"""publicity: authors, contents and attachments per revision

- content_revision.text_authors: everyone whose text a revision holds (none of them may publish
  it). Existing revisions get the savers of their item's revisions up to and including them.
- content_revision.toc: the table of contents, stored when a revision is saved. Existing
  revisions are rendered again here (body_html and toc) with a frozen copy of the renderer of
  this revision, which no longer escapes raw HTML twice (`&lt;b>` showed inside code).
- content_attachment.added_in_revision_id / removed_in_revision_id: attachments belong to
  revisions. An existing file counts as added in its item's live revision (it is public today)
  or, for an item never published, in its working revision.

Revision ID: d4afc2c64289
Revises: 0bf661acab2d
Create Date: 2026-11-30 04:26:48.779187

"""
import html
from collections.abc import Sequence

import markdown
import nh3
import sqlalchemy as sa
from alembic import op


revision: str = 'd4afc2c64289'
down_revision: str | None = '0bf661acab2d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADDED_FK = 'content_attachment_added_in_revision_id_fkey'
REMOVED_FK = 'content_attachment_removed_in_revision_id_fkey'

# The renderer as it is at this revision (portal/publicity/markdown.py), frozen.
TAGS = {
    'a', 'abbr', 'blockquote', 'br', 'code', 'em', 'h2', 'h3', 'h4', 'hr', 'li', 'ol', 'p',
    'pre', 'strong', 'table', 'tbody', 'td', 'th', 'thead', 'tr', 'ul', 'del', 'sup', 'sub',
}
ATTRIBUTES = {
    'a': {'href', 'title'}, 'h2': {'id'}, 'h3': {'id'}, 'h4': {'id'},
    'td': {'align'}, 'th': {'align'}, 'abbr': {'title'},
}
URL_SCHEMES = {'http', 'https', 'mailto', 'tel'}


def _slugify(value, separator):
    kept = ''.join(ch if ch.isalnum() else separator for ch in value.strip())
    return separator.join(part for part in kept.split(separator) if part)[:60] or 'section'


def _h2(tokens):
    found = []
    for token in tokens:
        if token['level'] == 2:
            found.append([token['id'], html.unescape(token['name'])])
        found.extend(_h2(token['children']))
    return found


def _render(text):
    converter = markdown.Markdown(
        extensions=['tables', 'sane_lists', 'toc'],
        extension_configs={'toc': {'slugify': _slugify, 'toc_depth': '2-3'}},
    )
    converter.preprocessors.deregister('html_block')
    converter.inlinePatterns.deregister('html')
    body = converter.convert(text)
    cleaned = nh3.clean(
        body, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
        link_rel='noopener noreferrer',
    )
    return cleaned, _h2(converter.toc_tokens)


def upgrade() -> None:
    with op.batch_alter_table('content_revision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('toc', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(
            sa.Column('text_authors', sa.JSON(), nullable=False, server_default='[]')
        )
    with op.batch_alter_table('content_attachment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('added_in_revision_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('removed_in_revision_id', sa.Integer(), nullable=True))

    bind = op.get_bind()
    revisions = sa.table(
        'content_revision',
        sa.column('id', sa.Integer()),
        sa.column('item_id', sa.Integer()),
        sa.column('number', sa.Integer()),
        sa.column('created_by', sa.Integer()),
        sa.column('body', sa.Text()),
        sa.column('body_html', sa.Text()),
        sa.column('toc', sa.JSON()),
        sa.column('text_authors', sa.JSON()),
    )
    rows = bind.execute(
        sa.select(revisions.c.id, revisions.c.item_id, revisions.c.created_by, revisions.c.body)
        .order_by(revisions.c.item_id, revisions.c.number)
    ).all()
    authors: dict[int, set[int]] = {}
    for revision_id, item_id, created_by, body in rows:
        savers = authors.setdefault(item_id, set())
        if created_by is not None:
            savers.add(created_by)
        body_html, toc = _render(body or '')
        bind.execute(
            revisions.update()
            .where(revisions.c.id == revision_id)
            .values(body_html=body_html, toc=toc, text_authors=sorted(savers))
        )
    op.execute(
        'UPDATE content_attachment SET added_in_revision_id = ('
        'SELECT COALESCE(content_item.live_revision_id, content_item.working_revision_id) '
        'FROM content_item WHERE content_item.id = content_attachment.item_id)'
    )

    with op.batch_alter_table('content_revision', schema=None) as batch_op:
        batch_op.alter_column('toc', server_default=None)
        batch_op.alter_column('text_authors', server_default=None)
    with op.batch_alter_table('content_attachment', schema=None) as batch_op:
        batch_op.alter_column('added_in_revision_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            ADDED_FK, 'content_revision', ['added_in_revision_id'], ['id']
        )
        batch_op.create_foreign_key(
            REMOVED_FK, 'content_revision', ['removed_in_revision_id'], ['id']
        )


def downgrade() -> None:
    # Files removed in a revision were still listed before this migration: they come back.
    with op.batch_alter_table('content_attachment', schema=None) as batch_op:
        batch_op.drop_constraint(REMOVED_FK, type_='foreignkey')
        batch_op.drop_constraint(ADDED_FK, type_='foreignkey')
        batch_op.drop_column('removed_in_revision_id')
        batch_op.drop_column('added_in_revision_id')
    with op.batch_alter_table('content_revision', schema=None) as batch_op:
        batch_op.drop_column('text_authors')
        batch_op.drop_column('toc')
