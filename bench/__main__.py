"""`make bench`: every benchmark, each printing its figures with their targets."""

import sys

from bench import bulk, events, options, outbound, proxy, soak


def main() -> int:
    outbound.main()
    print()
    options.main()
    print()
    proxy.main()
    print()
    events.main()
    print()
    bulk.main()
    print()
    soak.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
