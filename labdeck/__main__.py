"""``python -m labdeck``: the same as the ``labdeck`` command."""

from labdeck.tui.launcher import main

raise SystemExit(main())
