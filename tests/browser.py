"""Open a page from disk in headless Chromium and report what a person would get: errors, the DOM, a screenshot.

It speaks Chromium's DevTools protocol over ``--remote-debugging-pipe`` (commands in on fd 3, replies
and events out on fd 4, each a JSON message ended by a NUL byte), so it needs no websocket client and
no package beyond the standard library. A page error is anything the DevTools console would show in
red: an uncaught exception, ``console.error``/``console.assert``, or a browser log entry of level
``error`` (a Content-Security-Policy refusal, a resource that failed to load).
"""

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEBIAN_CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-pipe",
)
PAGE_FACTS = """(() => {
  const size = element => { const box = element.getBoundingClientRect(); return [box.width, box.height]; };
  const root = document.documentElement;
  return {
    title: document.title,
    headings: [...document.querySelectorAll("h2")].map(heading => heading.textContent),
    charts: Object.fromEntries([...document.querySelectorAll("svg.chart")]
                               .map(svg => [svg.getAttribute("aria-label"), size(svg)])),
    sparks: document.querySelectorAll("svg.spark").length,
    tables: document.querySelectorAll("table").length,
    overflow_px: root.scrollWidth - root.clientWidth,
  };
})()"""

# Run in the child: put the two pipe ends on the fds the protocol uses, then become Chromium. The
# commands pipe was made first, so its end is the lower fd and the first dup2 cannot clobber the second.
_ON_FDS_3_AND_4 = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); os.execv(sys.argv[3], sys.argv[3:])"


class Unavailable(Exception):
    """No Chromium here, and none could be installed."""


class BrowserError(Exception):
    """Chromium did not answer as the protocol says (it crashed, hung, or refused a command)."""


@dataclass(frozen=True)
class PageView:
    """One page as loaded: its errors (empty when clean), PAGE_FACTS about its DOM, a full-page PNG."""

    errors: tuple[str, ...]
    facts: dict
    screenshot: bytes


def ensure_chromium() -> str:
    """Debian's Chromium, installed with apt-get when missing and we are root; Unavailable says why not."""
    found = shutil.which("chromium") or (DEBIAN_CHROMIUM if os.access(DEBIAN_CHROMIUM, os.X_OK) else None)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Unavailable("chromium is not installed, and installing it needs root and apt-get "
                          "(apt-get update && apt-get install -y chromium)")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=900, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise Unavailable(f"{' '.join(command)} failed (exit {done.returncode}): {last}")
    if shutil.which("chromium") is None:
        raise Unavailable("apt-get installed chromium, but no chromium is on PATH")
    return shutil.which("chromium")


class Browser:
    """One headless Chromium with a new empty profile; :meth:`view` opens each page in a fresh tab."""

    def __init__(self, chromium: str, *, profile: Path, timeout: float = 30.0) -> None:
        profile.mkdir(parents=True)  # a new empty directory: nothing from another run
        self._timeout = timeout
        self._log = tempfile.TemporaryFile()
        commands_in, self._commands = os.pipe()
        self._replies, replies_out = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, "-c", _ON_FDS_3_AND_4, str(commands_in), str(replies_out), chromium, *FLAGS,
             f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(commands_in, replies_out), stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        os.close(commands_in)
        os.close(replies_out)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Ask Chromium to quit, and make sure it has (killing it if it has not within a few seconds)."""
        try:
            if self._process.poll() is None:
                self._send("Browser.close")
                self._process.wait(timeout=5)
        except (BrowserError, OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        finally:
            os.close(self._commands)
            os.close(self._replies)
            self._log.close()

    def view(self, page: Path, *, width: int = 1280, height: int = 900) -> PageView:
        """Load ``page`` (a file) at ``width`` CSS pixels, and return its errors, PAGE_FACTS and a screenshot."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride", session=session, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self._events = []
        self.call("Page.navigate", session=session, url=page.resolve().as_uri())
        self._wait_for("Page.loadEventFired", session)
        evaluated = self.call("Runtime.evaluate", session=session, expression=PAGE_FACTS, returnByValue=True)
        if "exceptionDetails" in evaluated:
            raise BrowserError(f"PAGE_FACTS failed: {evaluated['exceptionDetails']}")
        size = self.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
        shot = self.call("Page.captureScreenshot", session=session, format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        errors = tuple(error for event in self._events if event.get("sessionId") == session
                       for error in _error(event))
        self.call("Target.closeTarget", targetId=target)
        return PageView(errors, evaluated["result"]["value"], base64.b64decode(shot["data"]))

    def call(self, method: str, *, session: str | None = None, **params: object) -> dict:
        """Send one command and return its result; the events that arrive meanwhile are kept."""
        number = self._send(method, session=session, **params)
        deadline = time.monotonic() + self._timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == number:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message["result"]
            self._events.append(message)

    def _send(self, method: str, *, session: str | None = None, **params: object) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params,
                   **({"sessionId": session} if session else {})}
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _wait_for(self, method: str, session: str) -> None:
        deadline = time.monotonic() + self._timeout
        while not any(event.get("method") == method and event.get("sessionId") == session for event in self._events):
            self._events.append(self._receive(deadline))

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self._replies, 1 << 20) if ready else None
            if not chunk:
                raise BrowserError(("Chromium closed the pipe" if ready else "Chromium did not answer in time")
                                   + f"; its log ends: {self._log_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _log_tail(self) -> str:
        self._log.seek(0)
        return " | ".join(self._log.read().decode(errors="replace").strip().splitlines()[-3:])


def _error(event: dict) -> list[str]:
    """The console error an event is, if it is one."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        return [details.get("exception", {}).get("description") or details.get("text", "uncaught exception")]
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return [" ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))]
    if method == "Log.entryAdded" and params["entry"].get("level") == "error":
        return [params["entry"].get("text", "")]
    return []


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header; ValueError when ``data`` is not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
