"""A Twisted static file server for the benchmark, one port per origin, optional delay.

Run in its own process (pinned to its own core by ``servers.py``) so its CPU never counts as
the crawler's.  It is the fallback when nginx is not installed, and the server of the latency
variant: nginx cannot hold each response back, ``--delay`` does it with ``callLater``, without
blocking, so a crawler that fetches concurrently sees one delay per round trip.

    python bench/serve_twisted.py --root SITE --ports 8001,8002 [--delay 0.1]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.web import resource, server, static


class Delayed(resource.Resource):
    """Wraps a resource tree: every response is started ``delay`` seconds late."""

    def __init__(self, inner: resource.Resource, delay: float) -> None:
        super().__init__()
        self.inner = inner
        self.delay = delay

    def getChildWithDefault(self, path: bytes, request: Any) -> resource.Resource:
        return Delayed(self.inner.getChildWithDefault(path, request), self.delay)

    def render(self, request: Any) -> Any:
        reactor.callLater(self.delay, self._render, request)  # type: ignore[attr-defined]
        return server.NOT_DONE_YET

    def _render(self, request: Any) -> None:
        if request._disconnected:
            return
        body = self.inner.render(request)
        if body is not server.NOT_DONE_YET:
            request.write(body)
            request.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--ports", required=True, help="comma-separated; port i serves o<i>")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    for index, port in enumerate(int(p) for p in args.ports.split(",")):
        root: resource.Resource = static.File(str(Path(args.root) / f"o{index}"))
        if args.delay > 0:
            root = Delayed(root, args.delay)
        site = server.Site(root)
        site.log = lambda _request: None  # type: ignore[method-assign]  # no access log
        reactor.listenTCP(port, site, backlog=512, interface="127.0.0.1")  # type: ignore[attr-defined]
    print("ready", flush=True)
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
