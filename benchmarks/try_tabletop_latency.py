"""Latency of one scene on the book's live table-top gallery (``try_tabletop``), in headless Chromium.

Serves the built site (``make book`` first) and opens ``book/try_tabletop.html?bench=N`` in real time (no virtual
clock): the page runs N scenes of its gallery through each network (the fixed and the moving camera's) with the
vendored onnxruntime-web (WebAssembly, one thread) and posts the timings back. A scene's time runs from the pixels
in the page's canvas to the network's outputs (reading the canvas and ``session.run``). Target: a median of at
most 20 ms per scene. Writes ``benchmarks/try_tabletop_latency.json``. ``--smoke``: three scenes each, written
nowhere (``--out`` to keep it); it still needs the built site and Chromium.

    .venv/bin/python benchmarks/try_tabletop_latency.py [--site _build/html] [-n 300]
"""
import json
from pathlib import Path

from _common import parser, save
from try_air_latency import browser_and_machine, page_timings

OUT = Path(__file__).with_name("try_tabletop_latency.json")
TARGET_MS = 20


def main(argv=None) -> dict:
    p = parser(__doc__, OUT)
    p.add_argument("--site", default="_build/html")
    p.add_argument("-n", type=int, default=None, help="scenes per network (default 300; with --smoke, 3)")
    args = p.parse_args(argv)
    n, wait_s = (args.n or 3, 120) if args.smoke else (args.n or 300, 400)
    timings = page_timings(args.site, "book/try_tabletop.html", n, wait_s)
    size = json.loads((Path(args.site) / "try_tabletop" / "gallery.json").read_text())["size"]
    met = {key: t["median_ms"] <= TARGET_MS for key, t in timings.items()}
    result = dict(what=f"latency of one scene (batch 1, a {size}x{size} RGB render) on the try_tabletop page: reading "
                       "the canvas and onnxruntime-web's run, WebAssembly, one thread",
                  **browser_and_machine(), target_ms=TARGET_MS, target_met=met, **timings)
    result = save(result, args, OUT)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
