"""``python -m taskdistill_rl``: the ``taskdistill`` command line."""

import sys

from taskdistill_rl.cli import main

if __name__ == "__main__":
    sys.exit(main())
