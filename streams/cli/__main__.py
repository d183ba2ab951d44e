"""``python -m streams.cli``: the ``relscore`` command."""

import sys

from streams.cli.main import main

sys.exit(main())
