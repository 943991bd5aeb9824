"""``python -m scaffold``: the same as the ``keras-scaffold`` command."""

from scaffold.cli import main

raise SystemExit(main())
