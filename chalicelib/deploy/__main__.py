"""``python -m chalicelib.deploy --stage prod [out_dir]``: what ``make package`` runs."""
import sys

from chalicelib.deploy.package import main

sys.exit(main())
