"""``python -m llserver``: serve the design document's demo handler.

``python -m llserver [--host 127.0.0.1] [--port 8080]`` answers every request
with the page of the design document's first example.  The handler is
:class:`llserver.demo.HttpRequestHandler`.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .demo import HttpRequestHandler
from .embedding import run


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m llserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--debug", action="store_true")
    ns = parser.parse_args(argv)

    def ready(server: object) -> None:
        sockets = getattr(server, "sockets", None) or []
        print("serving on", *[s.getsockname() for s in sockets], flush=True)

    run(lambda: HttpRequestHandler(debug=ns.debug), ns.host, ns.port, ready=ready)


if __name__ == "__main__":
    main(sys.argv[1:])
