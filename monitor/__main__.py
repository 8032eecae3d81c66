"""`python -m monitor` is the `platform-monitor` command."""

import sys

from monitor.cli import main

sys.exit(main())
