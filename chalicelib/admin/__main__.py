"""``python -m chalicelib.admin``: the operator CLI (SPEC section 8)."""
import sys

from chalicelib.admin.cli import main

sys.exit(main())
