"""``python -m fleet.simulator``."""

import sys

from fleet.simulator.cli import main

sys.exit(main())
