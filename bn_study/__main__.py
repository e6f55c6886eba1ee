import sys

from bn_study.cli import main

if __name__ == "__main__":  # spawned worker processes import this module too (--jobs N)
    sys.exit(main())
