"""`python -m app.score`."""
import sys

from app.score.cli import main

sys.exit(main())
