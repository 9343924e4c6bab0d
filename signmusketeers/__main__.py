import sys

from signmusketeers.cli import main

sys.exit(main())
