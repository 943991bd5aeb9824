"""python -m example_subclassing_custom_image: see cli.py."""

from .cli import main

raise SystemExit(main())
