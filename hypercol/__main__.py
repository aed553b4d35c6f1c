"""``python -m hypercol`` is the ``hypercol`` command."""

import sys

from hypercol.start import main

sys.exit(main())
