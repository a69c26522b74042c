#!/usr/bin/env python3
"""Opens an HTML page in headless Chromium over the DevTools protocol and checks it as a person would see it:
no console error or uncaught exception while it loads, every chart (svg.chart) with a size, and a screenshot.

usage: check_report.py PAGE.html SCREENSHOT.png
Exit 0: checked; 1: a check failed; 77: cannot run here (no Chromium, or the `websockets` package missing).
"""
import asyncio, base64, json, os, shutil, subprocess, sys, tempfile, time

try:
    import websockets
except ImportError:
    print("the Python package `websockets` is not installed (pip install websockets)", file=sys.stderr)
    sys.exit(77)

CHROMIUM = next((p for p in ("chromium", "chromium-browser", "google-chrome") if shutil.which(p)), None)
if CHROMIUM is None:
    print("no Chromium here (Debian: apt-get install chromium)", file=sys.stderr)
    sys.exit(77)


def devtools_url(profile, proc):
    port_file = os.path.join(profile, "DevToolsActivePort")
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit(f"chromium exited with {proc.returncode}")
        if os.path.exists(port_file):
            lines = open(port_file).read().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.1)
    sys.exit("chromium did not open its DevTools port")


async def check(url, page, shot):
    async with websockets.connect(url, max_size=64 * 1024 * 1024) as ws:
        ids = iter(range(1, 1_000_000))
        events, errors = [], []

        async def call(method, params=None, session=None):
            msg_id = next(ids)
            msg = {"id": msg_id, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            await ws.send(json.dumps(msg))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == msg_id:
                    if "error" in reply:
                        sys.exit(f"{method}: {reply['error']}")
                    return reply["result"]
                events.append(reply)

        target = (await call("Target.createTarget", {"url": "about:blank"}))["targetId"]
        session = (await call("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            await call(f"{domain}.enable", session=session)
        await call("Emulation.setDeviceMetricsOverride",
                   {"width": 1000, "height": 1400, "deviceScaleFactor": 1, "mobile": False}, session=session)
        await call("Page.navigate", {"url": "file://" + os.path.abspath(page)}, session=session)
        deadline = time.time() + 20
        while not any(e.get("method") == "Page.loadEventFired" for e in events) and time.time() < deadline:
            events.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=20)))
        for e in events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                errors.append(p["exceptionDetails"].get("text", "exception"))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append(json.dumps(p.get("args")))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                errors.append(p["entry"].get("text", ""))
        sizes = (await call("Runtime.evaluate", {"returnByValue": True, "expression":
            "Array.from(document.querySelectorAll('svg.chart')).map(s => {const r = s.getBoundingClientRect(); return [r.width, r.height];})"},
            session=session))["result"]["value"]
        # The page ends where its content ends: no fixed or minimum height leaves blank space below the last section.
        slack = (await call("Runtime.evaluate", {"returnByValue": True, "expression":
            "document.documentElement.scrollHeight - Math.max(...Array.from(document.body.children).map(e => e.getBoundingClientRect().bottom + window.scrollY))"},
            session=session))["result"]["value"]
        if slack > 80:
            errors.append(f"{slack}px of blank page below the content")
        full = (await call("Page.getLayoutMetrics", session=session))["cssContentSize"]
        png = (await call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": 1000, "height": min(full["height"], 6000), "scale": 1}}, session=session))["data"]
        open(shot, "wb").write(base64.b64decode(png))
        return errors, sizes


def main():
    page, shot = sys.argv[1], sys.argv[2]
    profile = tempfile.mkdtemp(prefix="continuo-chromium-")
    proc = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        errors, sizes = asyncio.run(check(devtools_url(profile, proc), page, shot))
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"charts: {len(sizes)}; sizes: {sizes}; console errors: {errors}; screenshot: {shot}")
    empty = [s for s in sizes if s[0] < 100 or s[1] < 20]
    if errors or not sizes or empty:
        print("FAILED: " + ("console errors" if errors else "a chart has no size" if sizes else "no chart"))
        sys.exit(1)


main()
