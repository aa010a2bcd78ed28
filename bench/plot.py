"""Draw bench/growth.png (time against number of pins) from bench/results.json.

Usage: python bench/plot.py results.json growth.png. Needs matplotlib, which the
``make bench`` target installs into a separate virtual environment (bench/.venv)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"lockbuild": "tab:blue", "pip-compile": "tab:orange", "uv": "tab:green"}


def plot(data_path: Path, out_path: Path) -> None:
    data = json.loads(data_path.read_text())
    series: dict[str, dict[str, list[list[float]]]] = data["growth_points"]
    if not series:
        raise SystemExit("no growth measurements in " + str(data_path))
    key, lines = next(iter(series.items()))
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=110)
    for name, points in sorted(lines.items()):
        if not points:
            continue
        tool, cache = name.rsplit(" ", 1)
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        ax.plot(
            xs,
            ys,
            marker="o",
            linestyle="-" if cache == "warm" else "--",
            color=COLORS.get(tool, "gray"),
            label=f"{tool} ({cache} cache)",
        )
    warm = lines.get("lockbuild warm") or []
    if len(warm) >= 2:
        # Linear growth through lockbuild's smallest warm point, for reference.
        x0, y0 = warm[0]
        xmax = warm[-1][0]
        ax.plot(
            [x0, xmax],
            [y0, y0 * xmax / x0],
            linestyle=":",
            color="gray",
            label="linear from lockbuild's smallest warm point",
        )
    ax.set_xlabel("runtime pins in the lockfile")
    ax.set_ylabel("median wall time (s)")
    ax.set_title(f"Cost against size: set ({key}) cut to its first N requirements")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.99, 0.01, f"{data['facts'].get('date', '')}", ha="right", fontsize=7, color="gray")
    fig.tight_layout()
    fig.savefig(out_path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    plot(Path(sys.argv[1]), Path(sys.argv[2]))
