"""The stats: the fold of lines into cells (``_fold``), the files that keep it
(``token_stats.json`` and its month and quarter files, ``_store``), and the one question
reports ask of them (``_plan``): which cells and pieces answer this range in this zone.

The stats are an exact cache of the fold over the lines, keyed by byte offsets, and rebuilt
from the lines whenever in doubt (docs/FORMAT.md). Both the writer and the readers use them.
"""
