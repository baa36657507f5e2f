"""The contract between writer and readers: the record a call queues and its call-site
checks, the line format, reading lines from files, and the file primitives both sides use.

It imports nothing else of asynctokens (``tests/test_architecture.py`` checks it): every other
package builds on it, so a change here is a change of the contract (docs/FORMAT.md).
"""
