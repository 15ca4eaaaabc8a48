"""Time the full dSprites-style generation (737,280 images) and the reload from cache.

    python benchmarks/dsprites_generate.py --data /tmp/dsprites-bench"""

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

from infogan.budget import current
from infogan.data import load_dsprites


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, default=Path("/tmp/dsprites-bench"))
    p.add_argument("--stride", type=int, default=1)
    a = p.parse_args()
    if current().smoke:
        a.stride = 8  # 1,440 images instead of 737,280
    shutil.rmtree(a.data / "dsprites", ignore_errors=True)
    t0 = time.perf_counter()
    first = load_dsprites(a.data, a.stride)
    t1 = time.perf_counter()
    again = load_dsprites(a.data, a.stride)
    t2 = time.perf_counter()
    cache = a.data / "dsprites" / f"dsprites_stride{a.stride}.npy"
    print(json.dumps({"machine": platform.node(), "images": len(first), "generate_and_cache_s": round(t1 - t0, 1),
                      "load_from_cache_s": round(t2 - t1, 1), "cache_mb": round(cache.stat().st_size / 2**20, 1),
                      "identical": bool((first.images == again.images).all())}))


if __name__ == "__main__":
    main()
