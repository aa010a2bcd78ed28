"""Draw bench/growth.png (wall and CPU time against number of pins) from bench/results.json.

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
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), dpi=110)
    for ax, metric, label in (
        (axes[0], "wall", "median wall time (s)"),
        (axes[1], "cpu", "median CPU time, user + system of the process tree (s)"),
    ):
        for name, points in sorted(lines.items()):
            tool, cache, what = name.rsplit(" ", 2)
            if what != metric or not points:
                continue
            ax.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                marker="o",
                linestyle="-" if cache == "warm" else "--",
                color=COLORS.get(tool, "gray"),
                label=f"{tool} ({cache} cache)",
            )
        ax.set_xlabel("runtime pins in the lockfile")
        ax.set_ylabel(label)
        ax.set_title(f"{metric.upper() if metric == 'cpu' else 'Wall'}: set ({key}), first N lines")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    index = " and ".join(data.get("indexes", []))
    fig.text(
        0.99,
        0.01,
        f"{data['facts'].get('date', '')}, {index} index",
        ha="right",
        fontsize=7,
        color="gray",
    )
    fig.tight_layout()
    fig.savefig(out_path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    plot(Path(sys.argv[1]), Path(sys.argv[2]))
