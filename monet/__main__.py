"""``python -m monet COMMAND``: see :mod:`monet.cli`."""
import sys

from monet.cli import main

sys.exit(main())
