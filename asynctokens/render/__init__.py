"""Renderings of the reports: a terminal (``terminal``, rich), HTML (``html``), plain text
(``text``, for the writer's ``print_summary`` which must not import rich) and CSV (``csv``).

All of them format numbers, money and rates, and show untrusted text, through ``_numbers``,
so one figure reads the same everywhere. This package imports nothing heavy itself.
"""
