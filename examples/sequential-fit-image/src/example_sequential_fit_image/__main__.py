"""python -m example_sequential_fit_image: see cli.py."""

from .cli import main

raise SystemExit(main())
