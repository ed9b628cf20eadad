"""Headless Chromium driven over the DevTools protocol (websocket-client), for report tests.

One browser per test module, one page per test; the browser listens on a random loopback
port (--remote-debugging-port=0, written to DevToolsActivePort in its own profile folder),
and every page session is attached "flat" over the browser's one websocket. The page
records what a reader would never want to see: console errors, uncaught exceptions,
browser log errors (a CSP violation lands there), network requests other than the
file itself, and JavaScript dialogs (alert() from an injected script).
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"]
START_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(Exception):
    pass


class Browser:
    def __init__(self, path: str):
        import websocket  # the `test` extra: websocket-client

        self.tmp = tempfile.mkdtemp(prefix="hostmedic-chromium-")
        profile = os.path.join(self.tmp, "profile")
        self.log = open(os.path.join(self.tmp, "chromium.log"), "wb")
        self.proc = subprocess.Popen([path, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if os.path.exists(port_file):
                lines = open(port_file).read().split()
                if len(lines) >= 2:
                    break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise BrowserError(f"chromium did not start (see {self.log.name})")
            time.sleep(0.05)
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{lines[0]}{lines[1]}", timeout=CALL_TIMEOUT,
                                              suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, **params) -> dict[str, Any]:
        msg_id = next(self.ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        deadline = time.monotonic() + CALL_TIMEOUT
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._event(reply)
        raise BrowserError(f"{method}: no answer in {CALL_TIMEOUT} s")

    def _event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if event["method"] == "Page.javascriptDialogOpening":  # never leave a dialog blocking the page
            msg = {"id": next(self.ids), "method": "Page.handleJavaScriptDialog",
                   "params": {"accept": False}, "sessionId": event.get("sessionId")}
            self.ws.send(json.dumps(msg))

    def wait_event(self, method: str, session: str, since: int, timeout: float = CALL_TIMEOUT) -> dict[str, Any]:
        """The first `method` event of `session` among events number `since` and later."""
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        for ev in self.events[since:]:
            if ev["method"] == method and ev.get("sessionId") == session:
                return ev
        while time.monotonic() < deadline:
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                reply = json.loads(self.ws.recv())
            finally:
                self.ws.settimeout(CALL_TIMEOUT)
            if "method" in reply:
                self._event(reply)
                if reply["method"] == method and reply.get("sessionId") == session:
                    return reply
        raise BrowserError(f"no {method} within {timeout} s ({len(self.events) - seen} other events)")

    def page(self) -> "Page":
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        return Page(self, target, session)

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGTERM)  # chromium and the helpers it started
                    self.proc.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(self.proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    self.proc.wait(timeout=10)
            self.log.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


class Page:
    def __init__(self, browser: Browser, target: str, session: str):
        self.b, self.target, self.session = browser, target, session
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params) -> dict[str, Any]:
        return self.b.call(method, self.session, **params)

    def open(self, url: str, width: int = 1280, height: int = 900, mobile: bool = False, scale: float = 1) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=scale,
                  mobile=mobile)
        self.call("Emulation.setFocusEmulationEnabled", enabled=True)  # the clipboard wants a focused page
        since = len(self.b.events)
        self.call("Page.navigate", url=url)
        self.b.wait_event("Page.loadEventFired", self.session, since)

    def eval(self, expression: str, await_promise: bool = False) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=await_promise,
                           returnByValue=True, userGesture=False)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str, index: int = 0) -> None:
        """A real mouse click (user activation, as a person's click) in the middle of the element."""
        box = self.eval(f"""(() => {{ const el = document.querySelectorAll({json.dumps(selector)})[{index}];
            el.scrollIntoView({{block: "center"}}); const r = el.getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2]; }})()""")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def screenshot(self, path: str, full_page: bool = True) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.call("Page.captureScreenshot", **params)["data"]
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))

    def pdf(self, path: str) -> None:
        data = self.call("Page.printToPDF", printBackground=True, preferCSSPageSize=True)["data"]
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))

    def events(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.b.events if e["method"] == method and e.get("sessionId") == self.session]

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, browser log errors, dialogs."""
        out = []
        for p in self.events("Runtime.consoleAPICalled"):
            if p["type"] in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
        for p in self.events("Runtime.exceptionThrown"):
            out.append("exception: " + json.dumps(p["exceptionDetails"])[:500])
        for p in self.events("Log.entryAdded"):
            if p["entry"]["level"] == "error":
                out.append(f"log: {p['entry'].get('source')}: {p['entry']['text']}")
        for p in self.events("Page.javascriptDialogOpening"):
            out.append(f"dialog: {p.get('type')}: {p.get('message')}")
        return out

    def requests(self) -> list[str]:
        return [p["request"]["url"] for p in self.events("Network.requestWillBeSent")]

    def close(self) -> None:
        self.b.call("Target.closeTarget", targetId=self.target)
