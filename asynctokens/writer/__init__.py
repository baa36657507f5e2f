"""The writing side: the ``TokenTracker`` facade (log, flush, close, health, summaries), the
worker that runs it (a thread or a task of the caller's loop; exits, signals, fork), the
engine that turns the queue into batches and feeds the sinks, and the batch writer that
appends lines and updates the stats.

The read side never imports this package (``tests/test_architecture.py``), and
``import asynctokens`` does not load it until one of its names is used.
"""
