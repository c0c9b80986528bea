"""Full-text search of what the areas publish: Whoosh (whoosh3) with a Chinese analyser.

Search knows documents, not the areas behind them: each area declares search sources
(portal.search.sources.SearchSource) that say which documents are live and what to index.
The index is derived data under instance/search, rebuilt from the sources by
`flask search reindex`. A source calls `sync_after_commit` when it changes what the public sees;
the `search.catch_up` job repairs whatever a crash left out, and rebuilds an index that is
missing or cannot be read. `index_health()` says which state the index is in.
"""

from portal.search.index import (
    Hit,
    IndexUnavailable,
    SearchIndex,
    SearchResults,
    catch_up,
    get_index,
    index_health,
    live_count,
    reindex,
    sync_after_commit,
    sync_items,
)
from portal.search.sources import Document, SearchSource

__all__ = [
    "Document",
    "Hit",
    "IndexUnavailable",
    "SearchIndex",
    "SearchResults",
    "SearchSource",
    "catch_up",
    "get_index",
    "index_health",
    "live_count",
    "reindex",
    "sync_after_commit",
    "sync_items",
]
