"""``python -m rnnkit``: the ``rnnkit`` command (what torchrun starts in each worker)."""

import sys

from rnnkit.cli.main import main

sys.exit(main())
