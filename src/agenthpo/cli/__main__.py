import sys

from agenthpo.cli import main

sys.exit(main())
