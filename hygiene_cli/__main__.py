"""`python -m hygiene_cli ...` is the `hygiene` command."""

import sys

from .main import main

sys.exit(main())
