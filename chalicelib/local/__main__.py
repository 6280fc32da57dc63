"""``python -m chalicelib.local``: the local stack behind ``make run``."""
import sys

from chalicelib.local.stack import main

sys.exit(main())
