"""``python -m metrics``: the metric engine's command line (no Django needed)."""

from metrics.engine.cli import main

raise SystemExit(main())
