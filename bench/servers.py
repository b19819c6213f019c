"""Start the benchmark's servers in their own processes, pinned away from the crawler's core.

* the site: nginx (Debian's, when installed: the fastest static server at hand, so the server
  is never what limits the crawl) or, as a fallback and for the latency variant, the Twisted
  server in ``serve_twisted.py``;
* S3: moto's server (``moto_server``) in its own process, so its CPU is not the crawler's.

``taskset`` pins each server to ``SERVER_CPU`` and the crawler to ``CRAWLER_CPU`` when the
machine has two cores or more; on one core nothing is pinned.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

CRAWLER_CPU = 0
SERVER_CPU = 1
BENCH = Path(__file__).resolve().parent

NGINX_CONF = """\
{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
{servers}
}}
"""


def pinned(cpu: int, cmd: list[str]) -> list[str]:
    """``cmd`` under ``taskset -c cpu`` when there are two cores or more and taskset exists."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu), *cmd]
    return cmd


def free_ports(count: int) -> list[int]:
    """Ports the kernel hands out now (held open together, so they are distinct)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not listen on port {port}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def site_server(
    root: Path, origins: int, tmp: Path, delay: float = 0.0, kind: str = "auto"
) -> Iterator[tuple[str, list[int]]]:
    """Serve ``root/o<i>`` on one port each; yields (server name, ports)."""
    ports = free_ports(origins)
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    use_nginx = kind == "nginx" or (kind == "auto" and nginx is not None and delay == 0)
    if use_nginx:
        assert nginx is not None, "nginx is not installed"
        servers = "\n".join(
            f"  server {{ listen 127.0.0.1:{port} backlog=1024; root {root}/o{i}; }}"
            for i, port in enumerate(ports)
        )
        user = "user root;\n" if os.geteuid() == 0 else ""  # mkdtemp folders are 0700
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, tmp=tmp, servers=servers))
        cmd = [nginx, "-c", str(conf), "-p", str(tmp), "-g", "daemon off;"]
        name = (
            "nginx "
            + subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
            .stderr.strip()
            .rsplit("/", 1)[-1]
        )
    else:
        script = str(BENCH / "serve_twisted.py")
        cmd = [sys.executable, script, "--root", str(root), "--ports", ",".join(map(str, ports))]
        cmd += ["--delay", str(delay)]
        name = "twisted.web static" + (f" (+{delay * 1000:.0f} ms per response)" if delay else "")
    proc = subprocess.Popen(pinned(SERVER_CPU, cmd), stdout=subprocess.DEVNULL)
    try:
        for port in ports:
            wait_listening(port)
        yield name, ports
    finally:
        _stop(proc)


@contextlib.contextmanager
def moto_s3(env: dict[str, str]) -> Iterator[str]:
    """moto's S3 server in its own process; yields its endpoint URL."""
    (port,) = free_ports(1)
    exe = shutil.which("moto_server")
    cmd = [exe] if exe else [sys.executable, "-m", "moto.server"]
    cmd += ["-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(
        pinned(SERVER_CPU, cmd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_listening(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)
