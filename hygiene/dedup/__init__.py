"""Near-duplicate detection beyond one process's memory.

- ``partitioned``: global dedup of a whole corpus as partitioned files on disk (bounded memory).
- ``index``: a persistent index, so a new shard is checked against everything seen before
  without re-signing it; its storage backends (``sqlite_storage`` on disk, ``redis_storage``)
  share the ``storage`` interface.
Import the submodules directly; this package imports nothing heavy.
"""
