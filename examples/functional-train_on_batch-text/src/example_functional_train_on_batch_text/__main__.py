"""python -m example_functional_train_on_batch_text: see cli.py."""

from .cli import main

raise SystemExit(main())
