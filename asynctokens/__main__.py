"""python -m asynctokens: the report command (see asynctokens.cli)."""

from asynctokens.cli import main

raise SystemExit(main())
