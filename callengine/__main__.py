import sys

from callengine.cli import main

sys.exit(main())
