import sys

from bn_study.cli import main

sys.exit(main())
