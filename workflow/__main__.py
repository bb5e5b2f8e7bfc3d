"""``python -m workflow`` runs the ``filiere`` command."""

import sys

from workflow.cli import main

sys.exit(main())
