"""``python -m sklearn_curate`` runs the ``sklearn-curate`` command."""

from .cli import main

raise SystemExit(main())
