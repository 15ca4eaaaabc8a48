"""Peak resident memory of the dashboard server with a dSprites run open in Chromium: Monitor,
Explore (nearest training images on; then the Real image and Code map tabs) and
Disentanglement, in that order. The server's VmHWM (the kernel's peak resident set, what
/usr/bin/time -v reports) is read after each page.

    python benchmarks/server_memory.py --data DIR [--tree CHECKOUT] [--run-dir DIR]

--tree serves another checkout's dashboard (e.g. a worktree of an older commit) on the same run
and data, so two versions are compared on one machine; the run (2 steps of the dsprites preset
on the full set) is trained once by this checkout and kept in --run-dir. One JSON line."""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.dashboard_driver import CHROMIUM, CHROMIUM_ARGS, ROOT, start_server, stop_server

PAGES = [("monitor", "monitor?run=ds", "Monitor"), ("explore_nearest", "explore?run=ds&nearest=true", "In pixels"),
         ("explore_real_image", "explore?run=ds&tab=Real+image", "reading"),
         ("explore_code_map", "explore?run=ds&tab=Code+map", "real images, one point each"),
         ("disentanglement", "disentangle?run=ds", "Disentanglement")]


def peak_mb(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {k: round(int(fields[k].split()[0]) / 1024) for k in ("VmHWM", "VmRSS")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="data folder (dSprites is drawn there on first use)")
    p.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose dashboard to serve")
    p.add_argument("--run-dir", type=Path, default=Path("/tmp/server-memory-runs"))
    a = p.parse_args()
    if not (a.run_dir / "ds" / "ckpt").is_dir():
        subprocess.run([sys.executable, "-m", "infogan", "--runs-dir", str(a.run_dir), "train", "--run-name", "ds",
                        "--dataset", "dsprites", "--data-dir", str(a.data), "--max-steps", "2", "--ckpt-every", "2",
                        "--sample-every", "2", "--log-every", "1", "--quiet"], cwd=ROOT, check=True)
    from playwright.sync_api import sync_playwright

    server, url = start_server(a.run_dir, a.data, tree=a.tree.resolve())
    out = {"tree": str(a.tree), "commit": subprocess.run(["git", "-C", str(a.tree), "rev-parse", "--short", "HEAD"],
                                                         capture_output=True, text=True).stdout.strip(),
           "machine": platform.node(), "start": peak_mb(server.pid)}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name, path, text in PAGES:
                t0 = time.perf_counter()
                page.goto(f"{url}/{path}")
                page.get_by_text(text).first.wait_for(timeout=600_000)
                time.sleep(3)  # the page's last pieces (charts, images) after its text
                out[name] = {**peak_mb(server.pid), "seconds": round(time.perf_counter() - t0, 1)}
            browser.close()
    finally:
        stop_server(server)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
