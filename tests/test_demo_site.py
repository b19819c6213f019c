"""The demo web server (crawler.demo.server) and the bundled demo site's EXPECTED.toml.

The server is what every crawl test talks to, so its promises are tested here directly: routes,
repeated header lines, redirects, HEAD, delays, callable routes, the request log and above all
``completed``, which other tests rely on to prove a body was *not* downloaded.  The demo site's
EXPECTED.toml is checked against the decision core itself, page by page, over real HTTP.
"""

from __future__ import annotations

import gc
import http.client
import re
import socket
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from crawler.core import SIGNALS, Evidence, FetchedFile, Headers, decide, load_policy
from crawler.core._html import meta_from_html
from crawler.demo.server import Origin, Request, Route, SiteServer

SITE = Path(__file__).resolve().parents[1] / "crawler" / "demo" / "site"
EXPECTED: dict[str, Any] = tomllib.loads((SITE / "EXPECTED.toml").read_text("utf-8"))
POLICY = load_policy(Path(__file__).resolve().parents[1] / "policies" / "default.toml")
UA = "ConsentCrawler/0.1 (+https://consent-crawler.example/bot)"


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def raw(url: str, method: str = "GET") -> Reply:
    """One request with http.client: no redirect following, every header line kept."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, headers={"User-Agent": UA})
        response = conn.getresponse()
        return Reply(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def fetch(url: str) -> tuple[int, bytes, list[tuple[str, str]], str]:
    """A GET the way a crawler does it (urllib, redirects followed): status, body, headers,
    content type; HTTP errors are answers too."""
    request = urllib.request.Request(url, headers={"User-Agent": UA})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return (
                response.status,
                response.read(),
                response.headers.items(),
                response.headers.get("Content-Type", ""),
            )
    except urllib.error.HTTPError as error:
        try:
            return error.code, error.read(), error.headers.items(), error.headers["Content-Type"]
        finally:
            error.close()


@pytest.fixture
def two() -> Iterator[SiteServer]:
    a = Origin("a", {"/": Route(body="home of a")})
    b = Origin("b", {"/x": Route(body="x of b")})
    with SiteServer([a, b]) as server:
        yield server


# --------------------------------------------------------------------------- the server


def test_routes_status_body_and_repeated_header_lines(two: SiteServer) -> None:
    a = two.origin("a")
    a.set_route(
        "/tagged",
        Route(418, b"teapot", headers={"X-Robots-Tag": ["noindex", "noai"], "X-One": "1"}),
    )
    reply = raw(a.url("/tagged"))
    assert (reply.status, reply.body) == (418, b"teapot")
    assert reply.header("X-Robots-Tag") == ["noindex", "noai"]
    assert reply.header("X-One") == ["1"]
    assert reply.header("Content-Type") == ["text/html; charset=utf-8"]
    assert reply.header("Content-Length") == ["6"]
    assert raw(a.url("/")).body == b"home of a"
    assert a.base_url == f"http://127.0.0.1:{a.port}" != two.origin("b").base_url


def test_unknown_paths_get_the_default_and_queries_match_exactly_then_by_path(
    two: SiteServer,
) -> None:
    a = two.origin("a")
    a.set_route("/search?q=tides", Route(body="exact"))
    a.set_route("/search", Route(body="any query"))
    missing = raw(a.url("/nope"))
    assert missing.status == 404 and b"not found" in missing.body
    assert raw(a.url("/search?q=tides")).body == b"exact"
    assert raw(a.url("/search?q=other")).body == b"any query"
    assert raw(a.url("/search")).body == b"any query"
    assert two.paths("a") == ["/nope", "/search?q=tides", "/search?q=other", "/search"]


def test_redirects_default_to_301_make_paths_absolute_and_cross_origins(
    two: SiteServer,
) -> None:
    a, b = two.origin("a"), two.origin("b")
    a.set_route("/old", Route(redirect_to="/"))
    a.set_route("/away", Route(302, redirect_to="{origin:b}/x"))
    old = raw(a.url("/old"))
    assert old.status == 301 and old.header("Location") == [a.url("/")]
    away = raw(a.url("/away"))
    assert away.status == 302 and away.header("Location") == [b.url("/x")]
    status, body, _, _ = fetch(a.url("/away"))
    assert (status, body) == (200, b"x of b")
    assert two.paths("b") == ["/x"]


def test_head_sends_the_headers_of_get_and_no_body(two: SiteServer) -> None:
    a = two.origin("a")
    a.set_route("/page", Route(body=b"x" * 1000, headers={"Content-Usage": "train-ai=n"}))
    reply = raw(a.url("/page"), method="HEAD")
    assert (reply.status, reply.body) == (200, b"")
    assert reply.header("Content-Length") == ["1000"]
    assert reply.header("Content-Usage") == ["train-ai=n"]
    assert two.wait_idle()
    [logged] = two.requests("a", "/page")
    assert (logged.method, logged.completed) == ("HEAD", True)


def test_delay_holds_the_headers_and_body_delay_holds_the_body(two: SiteServer) -> None:
    a = two.origin("a")
    a.set_route("/slow", Route(body="late", delay=0.3))
    a.set_route("/slow-body", Route(body="late body", body_delay=0.3))
    start = time.monotonic()
    assert raw(a.url("/slow")).body == b"late"
    assert time.monotonic() - start >= 0.3
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /slow-body HTTP/1.1\r\nHost: a\r\n\r\n")
        head = _read_headers(sock)
        headers_after = time.monotonic() - start
        rest = b"".join(iter(lambda: sock.recv(65536), b""))
        body_after = time.monotonic() - start
    assert head.startswith(b"HTTP/1.1 200") and rest == b"late body"
    assert headers_after < 0.25 <= 0.3 <= body_after


def test_callable_routes_see_the_request_and_can_change_between_calls(two: SiteServer) -> None:
    seen: list[Request] = []

    def flaky(request: Request) -> Route:
        seen.append(request)
        return Route(503, "try later") if len(seen) == 1 else Route(body="up again")

    two.origin("a").set_route("/robots.txt", flaky)
    assert raw(two.origin("a").url("/robots.txt")).status == 503
    second = raw(two.origin("a").url("/robots.txt"))
    assert (second.status, second.body) == (200, b"up again")
    assert [(r.origin, r.method, r.path, r.user_agent) for r in seen] == [
        ("a", "GET", "/robots.txt", UA)
    ] * 2


def test_a_route_that_raises_answers_500_and_is_recorded(two: SiteServer) -> None:
    def broken(request: Request) -> Route:
        raise RuntimeError("boom")

    two.origin("a").set_route("/broken", broken)
    assert raw(two.origin("a").url("/broken")).status == 500
    assert any("boom" in error for error in two.errors)


def _read_headers(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1024)
        assert chunk, "connection closed before the headers ended"
        data += chunk
    return data


def test_a_client_that_hangs_up_after_the_headers_leaves_completed_false(
    two: SiteServer,
) -> None:
    a = two.origin("a")
    big = Route(body=b"z" * 4_000_000, content_type="application/octet-stream", body_delay=0.2)
    a.set_route("/big", big)
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as sock:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\nUser-Agent: quitter\r\n\r\n")
        assert b"Content-Length: 4000000" in _read_headers(sock)
    assert two.wait_idle(5)
    [logged] = two.requests("a", "/big")
    assert (logged.user_agent, logged.completed) == ("quitter", False)
    # The same route read to the end is completed.
    assert len(raw(a.url("/big")).body) == 4_000_000
    assert two.wait_idle(5)
    assert [r.completed for r in two.requests("a", "/big")] == [False, True]


def test_a_hang_up_during_the_delay_or_mid_body_without_delay_is_seen(two: SiteServer) -> None:
    a = two.origin("a")
    a.set_route("/stall", Route(body="never", delay=30))
    a.set_route("/huge", Route(body=b"y" * 32_000_000, content_type="application/octet-stream"))
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as sock:
        sock.sendall(b"GET /stall HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.05)
    with socket.create_connection(("127.0.0.1", a.port), timeout=5) as sock:
        sock.sendall(b"GET /huge HTTP/1.1\r\nHost: a\r\n\r\n")
        _read_headers(sock)
    start = time.monotonic()
    assert two.wait_idle(5)
    assert time.monotonic() - start < 2  # the 30 s delay was cut short by the hang-up
    assert [r.completed for r in two.requests("a")] == [False, False]


def test_the_request_log_filters_counts_and_clears(two: SiteServer) -> None:
    a, b = two.origin("a"), two.origin("b")
    before = time.time()
    for url in (a.url("/"), b.url("/x"), a.url("/"), a.url("/missing")):
        raw(url)
    assert two.wait_idle()
    assert [(r.origin, r.path) for r in two.requests()] == [
        ("a", "/"),
        ("b", "/x"),
        ("a", "/"),
        ("a", "/missing"),
    ]
    assert two.paths("a") == ["/", "/", "/missing"]
    assert two.count("a", "/") == 2 and two.count("b", "/") == 0
    assert [r.path for r in two.requests(path="/x")] == ["/x"]
    logged = two.requests("a")[0]
    assert (logged.method, logged.user_agent, logged.completed) == ("GET", UA, True)
    assert before <= logged.time <= time.time()
    logged.completed = False  # readers get copies
    assert two.requests("a")[0].completed
    two.clear()
    assert two.requests() == []


def test_stop_is_prompt_idempotent_and_leaves_nothing_open() -> None:
    origin = Origin("slow", {"/": Route(body="x", delay=30)})
    server = SiteServer([origin])
    port = origin.port
    errors: list[BaseException] = []

    def client() -> None:
        try:
            raw(origin.url("/"))
        except (OSError, http.client.HTTPException) as exc:
            errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    time.sleep(0.1)
    start = time.monotonic()
    server.stop()
    server.stop()
    thread.join(5)
    assert time.monotonic() - start < 2 and not thread.is_alive() and errors
    assert server.requests()[0].completed is False
    assert not [t for t in threading.enumerate() if t.name.startswith("demo-origin-")]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    gc.collect()  # an unclosed socket would now raise ResourceWarning (-W error)


def test_origin_placeholders_are_resolved_in_text_bodies_headers_and_redirects(
    two: SiteServer,
) -> None:
    a, b = two.origin("a"), two.origin("b")
    a.set_route("/links", Route(body='<a href="{origin:b}/x">b</a> {origin:nobody}'))
    a.set_route("/plain", Route(body="see {origin:a}/", content_type="text/plain"))
    a.set_route("/blob", Route(body=b"{origin:b}", content_type="application/octet-stream"))
    a.set_route("/linked", Route(headers={"Link": '<{origin:b}/terms>; rel="license"'}))
    assert raw(a.url("/links")).body == f'<a href="{b.base_url}/x">b</a> {{origin:nobody}}'.encode()
    assert raw(a.url("/plain")).body == f"see {a.base_url}/".encode()
    assert raw(a.url("/blob")).body == b"{origin:b}"
    assert raw(a.url("/linked")).header("Link") == [f'<{b.base_url}/terms>; rel="license"']
    assert two.substitute("{origin:a}|{origin:b}") == f"{a.base_url}|{b.base_url}"


def test_from_directory_serves_files_and_routes_toml(tmp_path: Path) -> None:
    (tmp_path / "one" / "docs").mkdir(parents=True)
    (tmp_path / "two").mkdir()
    (tmp_path / "NOTES.md").write_text("not an origin")
    (tmp_path / "one" / "index.html").write_text('<a href="{origin:two}/">two</a>')
    (tmp_path / "one" / "docs" / "index.html").write_text("docs")
    (tmp_path / "one" / "robots.txt").write_text("User-agent: *\nDisallow: /docs/\n")
    (tmp_path / "one" / "ai.txt").write_text("User-agent: *\nDisallow: /\n")
    (tmp_path / "one" / "data.json").write_text('{"home": "{origin:one}"}')
    (tmp_path / "one" / "page.html").write_text("<p>page</p>")
    (tmp_path / "one" / "_routes.toml").write_text(
        '["/page.html"]\nheaders = { "X-Robots-Tag" = ["noindex", "noai"], "A" = "b" }\n'
        '["/gone"]\nredirect_to = "{origin:two}/new"\n'
        '["/robots.txt"]\nstatus = 503\nbody = "down"\ncontent_type = "text/plain"\n'
    )
    (tmp_path / "two" / "new").write_text("new")
    with SiteServer.from_directory(tmp_path) as server:
        one, two = server.origin("one"), server.origin("two")
        assert [o.name for o in server.origins] == ["one", "two"]
        home = raw(one.url("/"))
        assert home.body == f'<a href="{two.base_url}/">two</a>'.encode()
        assert home.header("Content-Type") == ["text/html; charset=utf-8"]
        assert raw(one.url("/docs/")).body == b"docs"
        assert raw(one.url("/docs")).header("Location") == [one.url("/docs/")]
        page = raw(one.url("/page.html"))
        assert (page.body, page.header("X-Robots-Tag"), page.header("A")) == (
            b"<p>page</p>",
            ["noindex", "noai"],
            ["b"],
        )
        assert raw(one.url("/gone")).header("Location") == [two.url("/new")]
        robots = raw(one.url("/robots.txt"))
        assert (robots.status, robots.body, robots.header("Content-Type")) == (
            503,
            b"down",
            ["text/plain"],
        )
        assert raw(one.url("/ai.txt")).header("Content-Type") == ["text/plain; charset=utf-8"]
        data = raw(one.url("/data.json"))
        assert data.header("Content-Type") == ["application/json"]
        assert data.body == f'{{"home": "{one.base_url}"}}'.encode()
        for hidden in ("/_routes.toml", "/../NOTES.md", "/%2e%2e/NOTES.md", "/missing.html"):
            assert raw(one.url(hidden)).status == 404, hidden


def test_bad_routes_toml_and_bad_setups_are_refused(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "_routes.toml").write_text('["/x"]\nstatuz = 503\n')
    with pytest.raises(ValueError, match="statuz"):
        SiteServer.from_directory(tmp_path)
    (tmp_path / "one" / "_routes.toml").write_text('["/x"]\nheaders = { "A" = 1 }\n')
    with pytest.raises(ValueError, match=r"headers\.A"):
        SiteServer.from_directory(tmp_path)
    with pytest.raises(ValueError, match="two origins"):
        SiteServer([Origin("same"), Origin("same")])
    with pytest.raises(RuntimeError, match="not being served"):
        _ = Origin("idle").base_url


# --------------------------------------------------------------------------- the demo site


def _pages(directory: Path) -> set[str]:
    """URL paths of an origin's HTML pages (index.html serves its directory)."""
    return {
        "/" + f.relative_to(directory).as_posix().removesuffix("index.html")
        for f in directory.rglob("*.html")
    }


def _origin_dirs() -> list[str]:
    return sorted(d.name for d in SITE.iterdir() if d.is_dir())


def test_expected_toml_names_every_origin_and_every_page_exactly_once() -> None:
    origins: dict[str, Any] = EXPECTED["origins"]
    assert (EXPECTED["policy"], EXPECTED["token"]) == ("default", POLICY.identity.token)
    assert sorted(origins) == _origin_dirs() and 8 <= len(origins) <= 10
    for name, spec in origins.items():
        kept, refused, never = set(spec["kept"]), set(spec["refused"]), set(spec["never_requested"])
        assert len(kept) + len(refused) + len(never) == len(kept | refused | never), name
        assert kept | refused | never == _pages(SITE / name), name
        assert set(spec.get("permitted", {})) <= kept, name
        permitted = [s for signals in spec.get("permitted", {}).values() for s in signals]
        for signal in [*spec["refused"].values(), *permitted]:
            assert signal in SIGNALS, (name, signal)


def test_demo_pages_are_small_well_formed_and_reachable_by_links() -> None:
    total = sum(f.stat().st_size for f in SITE.rglob("*") if f.is_file())
    assert total < 100_000
    for name in _origin_dirs():
        pages = _pages(SITE / name)
        assert 4 <= len(pages) <= 7, name
        links: dict[str, set[str]] = {}
        for path in pages:
            file = SITE / name / (path.lstrip("/") + ("index.html" if path.endswith("/") else ""))
            html = file.read_text("utf-8")
            assert '<html lang="en">' in html and re.search(r"<title>[^<]+</title>", html), file
            hrefs = re.findall(r'href="([^"]+)"', html)
            local = {
                urlsplit(urljoin(path, h)).path for h in hrefs if not h.startswith(("{", "http"))
            }
            assert local <= pages, (file, local - pages)  # no broken links within the origin
            links[path] = local
        seen, todo = {"/"}, ["/"]
        while todo:
            for target in links[todo.pop()] - seen:
                seen.add(target)
                todo.append(target)
        assert seen == pages, (name, pages - seen)
    home = (SITE / "open" / "index.html").read_text("utf-8")
    assert {f"{{origin:{name}}}/" for name in _origin_dirs() if name != "open"} <= set(
        re.findall(r'href="([^"]+)"', home)
    )


@pytest.fixture(scope="module")
def demo() -> Iterator[SiteServer]:
    with SiteServer.from_directory(SITE) as server:
        yield server


def _file(url: str) -> FetchedFile:
    status, body, _, content_type = fetch(url)
    return FetchedFile(status, body, content_type=content_type)


@pytest.mark.parametrize("name", sorted(EXPECTED["origins"]))
def test_expected_toml_agrees_with_the_decision_core(demo: SiteServer, name: str) -> None:
    spec = EXPECTED["origins"][name]
    origin = demo.origin(name)
    robots = _file(origin.url("/robots.txt"))
    ai_txt = _file(origin.url("/ai.txt"))
    tdmrep_json = _file(origin.url("/.well-known/tdmrep.json"))

    def decided(path: str, page: bool) -> Any:
        headers = meta = None
        if page:
            status, body, lines, content_type = fetch(origin.url(path))
            assert status == 200 and content_type.startswith("text/html"), (path, status)
            headers, meta = Headers(lines), meta_from_html(body)
        evidence = Evidence(
            origin.url(path),
            token=EXPECTED["token"],
            robots_txt=robots,
            ai_txt=ai_txt,
            tdmrep_json=tdmrep_json,
            headers=headers,
            meta=meta,
        )
        return decide(evidence, POLICY)

    for path in spec["never_requested"]:
        decision = decided(path, page=False)
        assert (decision.fetch, decision.use) == ("refused", "n/a"), (name, path)
        assert {r.signal for r in decision.refusals()} == {"robots"}, (name, path)
    for path in spec.get("only_requested", []):
        # Nothing else, not even the other policy files: robots.txt refuses them too.
        for other in ("/ai.txt", "/.well-known/tdmrep.json"):
            assert decided(other, page=False).fetch == "refused", (name, other)
        assert path == "/robots.txt"
    for path in spec["kept"]:
        decision = decided(path, page=True)
        assert (decision.fetch, decision.use) == ("allowed", "allowed"), (name, path)
        allowing = {r.signal for r in decision.reasons if r.scope == "use" and r.verdict == "allow"}
        assert allowing - {"policy"} == set(spec.get("permitted", {}).get(path, [])), (name, path)
    for path, signal in spec["refused"].items():
        decision = decided(path, page=True)
        assert (decision.fetch, decision.use) == ("allowed", "refused"), (name, path)
        assert {r.signal for r in decision.refusals()} == {signal}, (name, path)
    fetched = set(spec["kept"]) | set(spec["refused"])
    policy_files = {"/robots.txt", "/ai.txt", "/.well-known/tdmrep.json"}
    assert set(demo.paths(name)) == fetched | policy_files
    assert not demo.errors
