"""The read side: events in order and the newest calls (``reader``), reports as plain data
(``summary``), the same from async code (``aio``), SQL over the logs (``sql``), and many
directories read as one (``_dirs``). Never imports the writer.

The public import paths are ``asynctokens.reader``, ``asynctokens.summary``,
``asynctokens.aio`` and ``asynctokens.sql``.
"""
