"""The native tools the rig drives: ``wrk`` (the load generator), Debian's ``nginx`` (the forwarding
row) and the CPU time of a process from ``/proc``.

wrk runs ``benchmarks/wrk/linkage.lua``: every request its own MSGID, round robin over the 宛名番号
given, every answer but 200 counted. A run with any error (an answer other than 200, a socket error,
a timeout) raises ``WrkFailed``: a figure is never printed from a run that was partly refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.helpers import answers, free_port, wait_until

SCRIPT = Path(__file__).parent / "wrk" / "linkage.lua"
INSTALL = {
    "wrk": "wrk is missing: install it (Debian/Ubuntu: `sudo apt-get install wrk`; elsewhere build "
    "https://github.com/wg/wrk) and run again",
    "nginx": "nginx is missing: install it (Debian/Ubuntu: `sudo apt-get install nginx-light` or "
    "`nginx`) for the nginx row",
}


def find(tool: str, package: str | None = None) -> str | None:
    """The tool's path, installed with apt-get first when it is missing and this runs as root;
    None when it cannot be had. Says which it is."""
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/local/sbin")
    if path is None and os.geteuid() == 0 and shutil.which("apt-get"):
        package = package or tool
        print(f"{tool} is missing: installing it (apt-get install -y {package})", flush=True)
        install = ["apt-get", "install", "-y", "-q", package]
        if subprocess.run(install, check=False).returncode != 0:  # an image without package lists
            subprocess.run(["apt-get", "update", "-q"], check=False)
            subprocess.run(install, check=False)
        path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/usr/local/sbin")
    if path is None:
        print(INSTALL.get(tool, f"{tool} is missing"), flush=True)
    else:
        print(f"{tool}: {path}", flush=True)
    return path


def require_wrk() -> str:
    """wrk's path, or exit non-zero saying how to install it."""
    path = find("wrk")
    if path is None:
        raise SystemExit(INSTALL["wrk"])
    return path


class WrkFailed(AssertionError):
    """A wrk run with errors: its figures mean nothing."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_200: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    first_non_200: str = ""
    text: dict[str, float] = field(default_factory=dict)  # wrk's own printout, read back as a check

    @property
    def per_s(self) -> float:
        return round(self.requests / self.seconds, 1)

    @property
    def failed(self) -> int:
        return self.non_200 + sum(self.errors.values())

    def summary(self) -> dict[str, Any]:
        return {"per_s": self.per_s, "requests": self.requests, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms}


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(stdout: str) -> WrkResult:
    """wrk's output with the script's ``WRK_JSON`` line; the text wrk prints itself (Requests/sec,
    the --latency distribution, non-2xx and socket errors) is read back beside it."""
    line = next((x for x in stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if line is None:
        raise WrkFailed(f"wrk printed no WRK_JSON line (not run with {SCRIPT.name}?):\n{stdout}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    text: dict[str, float] = {}
    if found := re.search(r"^Requests/sec:\s+([\d.]+)", stdout, re.MULTILINE):
        text["per_s"] = float(found[1])
    for percent in (50, 99):
        if found := re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", stdout, re.MULTILINE):
            text[f"p{percent}_ms"] = round(float(found[1]) * UNITS[found[2]], 3)
    if found := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", stdout):
        text["non_2xx_3xx"] = int(found[1])
    errors = {name: int(count) for name, count in data["errors"].items()}
    if found := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout):
        for name, count in zip(("connect", "read", "write", "timeout"), found.groups(), strict=True):
            errors[name] = max(errors[name], int(count))
    return WrkResult(
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        p50_ms=round(data["latency_us"]["p50"] / 1000, 3),
        p99_ms=round(data["latency_us"]["p99"] / 1000, 3),
        non_200=int(data["non_200"]),
        errors=errors,
        first_non_200=data.get("first_non_200", ""),
        text=text,
    )


def check(result: WrkResult, what: str) -> WrkResult:
    """The result, or ``WrkFailed`` loudly when any request failed or none completed."""
    if result.failed or result.requests == 0:
        raise WrkFailed(
            f"{what}: {result.requests} requests, {result.non_200} answered other than 200, "
            f"socket errors {result.errors}; first refusal: {result.first_non_200[:300]!r}"
        )
    return result


def run_wrk(
    url: str,
    template: str | bytes,
    atenas: list[str],
    *,
    seconds: float,
    connections: int = 16,
    threads: int = 2,
    token: str | None = None,
    what: str = "",
    wrk: str | None = None,
) -> WrkResult:
    """``wrk -t2 -c16 -d15s --latency`` POSTing ``template`` (with ``@MSGID@`` and ``@ATENA@``) to
    ``url``'s ``/linkage/messages``; several URLs (comma-separated) split the threads between them."""
    urls = url.split(",")
    threads = max(threads, len(urls))
    binary = wrk or require_wrk()
    with tempfile.TemporaryDirectory() as scratch:
        body = Path(scratch) / "template.xml"
        body.write_bytes(template.encode() if isinstance(template, str) else template)
        command = [binary, f"-t{threads}", f"-c{max(connections, threads)}", f"-d{seconds:g}s", "--latency",
                   "--timeout", "30s", "-s", str(SCRIPT)]  # fmt: skip
        if token:
            command += ["-H", f"Authorization: Bearer {token}"]
        command += [f"{urls[0]}/linkage/messages", "--", str(body), ",".join(atenas), uuid.uuid4().hex[:12]]
        env = dict(os.environ)
        if len(urls) > 1:
            env["WRK_ADDRESSES"] = ",".join(urlsplit(u).netloc for u in urls)
        done = subprocess.run(
            command, capture_output=True, text=True, errors="replace", env=env, timeout=seconds + 120
        )
    if done.returncode != 0:
        raise WrkFailed(f"{what or url}: wrk exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return check(parse_wrk(done.stdout), what or url)


# --- nginx forwarding to the provider -----------------------------------------------------------

NGINX_CONF = """worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream provider {{
        server {upstream};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://provider;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


@contextmanager
def nginx_forwarding(upstream: str) -> Iterator[str | None]:
    """Debian's nginx on a free loopback port forwarding everything to ``upstream`` (kept-alive
    connections, one worker); yields its base URL, or None (saying why) when there is no nginx."""
    binary = find("nginx")
    if binary is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as prefix:
        os.chmod(prefix, 0o755)  # as root, nginx's worker runs as nobody and makes its temp paths here
        port = free_port()
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, upstream=urlsplit(upstream).netloc, port=port))
        command = [binary, "-c", str(conf), "-p", prefix, "-e", f"{prefix}/error.log", "-g", "daemon off;"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            with suppress(AssertionError):  # said below, with nginx's log
                wait_until(lambda: process.poll() is not None or answers(f"{url}/count"), timeout=15)
            if process.poll() is not None or not answers(f"{url}/count"):
                log = Path(prefix, "error.log")
                print(f"nginx did not start: {log.read_text() if log.exists() else ''}", flush=True)
                yield None
                return
            yield url
        finally:
            process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- CPU time from /proc ----------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the fields after the command name, from field 3


def cpu_seconds(*pids: int) -> float:
    """utime + stime of the processes and of every live process under them (uvicorn's workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, ValueError, IndexError):  # a process that ended meanwhile
                continue
    ticks, todo, seen = 0, list(pids), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = _stat(pid)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
        todo += children.get(pid, [])
    return ticks / CLOCK_TICKS
