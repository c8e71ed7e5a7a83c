"""``python -m streamdistill`` = the ``streamdistill`` command."""

import sys

from streamdistill.cli import main

sys.exit(main())
