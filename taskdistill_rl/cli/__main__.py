"""``python -m taskdistill_rl.cli``."""

import sys

from taskdistill_rl.cli import main

sys.exit(main())
