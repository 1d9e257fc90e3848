"""``python -m shoebox_core`` runs the ``shoebox`` command."""

import sys

from .cli.main import main

sys.exit(main())
