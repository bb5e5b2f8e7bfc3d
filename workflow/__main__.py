"""``python -m workflow`` runs the ``filiere`` command."""

import sys

from workflow.cli.main import main

sys.exit(main())
