import sys

from searchlab.cli import main

sys.exit(main())
