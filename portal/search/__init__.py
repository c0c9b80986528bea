"""Full-text search of published content: Whoosh (whoosh3) with a Chinese analyser.

The index is derived data under instance/search, rebuilt from the database by
`flask search reindex`. Publishing, retracting, editing and expiry update it after the
transaction commits; the `search.catch_up` job repairs whatever a crash left out.
"""

from portal.search.index import (
    SearchIndex,
    SearchResults,
    catch_up,
    get_index,
    reindex,
    sync_after_commit,
    sync_items,
)

__all__ = [
    "SearchIndex",
    "SearchResults",
    "catch_up",
    "get_index",
    "reindex",
    "sync_after_commit",
    "sync_items",
]
