"""`make bench`: every benchmark, each printing its figures with their targets."""

import sys

from bench import outbound


def main() -> int:
    outbound.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
