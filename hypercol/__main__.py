"""``python -m hypercol`` is the ``hypercol`` command."""

import sys

from hypercol.cli import main

sys.exit(main())
