"""What the benchmarks share: progress lines, nearest-rank percentiles, Markdown rows and the
loopback-only network namespace. The lab itself (Asterisk, engine, sipp scenario and load)
is the integration tests' own."""
from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(Path(__file__).resolve().parent)]

from lab import loopback_only  # noqa: E402

T0 = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f} s] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: an actual sample (p99 of fewer than 100 samples is the largest); NaN if none."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else math.nan


def row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def enter_loopback_namespace() -> None:
    """Re-exec under `unshare --net` with lo up, unless already isolated (as ./scripts/test
    does): pjsua would otherwise put a non-loopback address in its SDP, and a load could leak
    off the host."""
    if loopback_only():
        return
    if os.environ.get("CALLENGINE_NETNS"):
        sys.exit("still not loopback-only inside the new network namespace")
    os.execvp("unshare", ["unshare", "--net", "env", "CALLENGINE_NETNS=1", "bash", "-c",
                          'ip link set lo up && exec "$@"', "bash", sys.executable, *sys.argv])
