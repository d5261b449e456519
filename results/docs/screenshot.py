"""Screenshot a page of the built docs site as a reader's window shows it (headless Chromium).

    mkdocs build -d /tmp/site && (cd /tmp/site && python -m http.server 8765 &)
    cd results/docs
    python screenshot.py http://localhost:8765/ home.png --at what-it-looks-like --dy 1250
    python screenshot.py http://localhost:8765/tutorials/mujoco/ tutorial-mujoco.png \\
        --at what-you-should-see --dy -120
    python screenshot.py http://localhost:8765/api/ api.png

A 1280 x 1600 window, scrolled to the element with id ``--at`` (then ``--dy`` pixels further), so
material's sticky sidebars show; ``chromium --screenshot`` alone can only take the top of a page.
Drives Chromium over its DevTools protocol with the ``websockets`` package; the PNG is reduced to
256 colours. Writes OUT relative to the current directory (run it from this folder, issue 24).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import subprocess
import time
import urllib.request

import websockets
from PIL import Image

WIDTH, HEIGHT, PORT = 1280, 1600, 9333


async def _shoot(ws_url: str, url: str, at: str | None, dy: int) -> bytes:
    async with websockets.connect(ws_url, max_size=50_000_000) as ws:
        counter = 0

        async def call(method: str, **params) -> dict:
            nonlocal counter
            counter += 1
            await ws.send(json.dumps({"id": counter, "method": method, "params": params}))
            while True:
                message = json.loads(await ws.recv())
                if message.get("id") == counter:
                    return message.get("result", {})

        await call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        await call("Page.enable")
        await call("Page.navigate", url=url)
        await asyncio.sleep(3)  # the page, its fonts and material's scripts
        if at:
            scroll = f"document.getElementById({at!r}).scrollIntoView(); window.scrollBy(0, {dy})"
            await call("Runtime.evaluate", expression=scroll)
            await asyncio.sleep(1.5)
        return base64.b64decode((await call("Page.captureScreenshot", format="png"))["data"])


def screenshot(url: str, out: str, at: str | None = None, dy: int = 0) -> None:
    chromium = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--window-size={WIDTH},{HEIGHT}", f"--remote-debugging-port={PORT}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(50):
            try:
                tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{PORT}/json"))
                break
            except OSError:
                time.sleep(0.2)
        ws_url = next(tab for tab in tabs if tab["type"] == "page")["webSocketDebuggerUrl"]
        png = asyncio.run(_shoot(ws_url, url, at, dy))
    finally:
        chromium.terminate()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(256, dither=Image.Dither.NONE).save(out, optimize=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--at", help="id of the element to scroll to")
    parser.add_argument("--dy", type=int, default=0, help="pixels to scroll past it")
    args = parser.parse_args()
    screenshot(args.url, args.out, args.at, args.dy)
