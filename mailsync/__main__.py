"""`python -m mailsync ...`, the same as the `mailsync` console command."""

import sys

from mailsync.cli import main

sys.exit(main())
