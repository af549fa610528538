import sys

from jsc_hw.cli import main

sys.exit(main())
