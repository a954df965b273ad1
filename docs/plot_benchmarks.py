#!/usr/bin/env python3
"""Turn criterion results into the kiln-vs-tokio table and plot of docs/benchmarks.md.

Usage: python3 docs/plot_benchmarks.py [target/criterion] [docs/benchmarks.svg]

Reads every `<group>/{kiln,tokio}/new/estimates.json` that criterion wrote, prints a Markdown
table (medians and the kiln/tokio ratio; below 1.0 means kiln is faster) and writes an SVG bar
chart of the ratios. Standard library only.
"""
import json
import os
import sys


def median_ns(path):
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def estimates(gdir, side):
    """`<side>/new/estimates.json`, or `<side>/<parameter>/new/...` for a parameterised
    benchmark with one parameter (such as `tcp_echo/kiln/50`)."""
    base = os.path.join(gdir, side)
    path = os.path.join(base, "new", "estimates.json")
    if os.path.isfile(path) or not os.path.isdir(base):
        return path
    params = [p for p in os.listdir(base) if os.path.isfile(os.path.join(base, p, "new", "estimates.json"))]
    return os.path.join(base, params[0], "new", "estimates.json") if len(params) == 1 else path


def collect(root):
    rows = []
    for group in sorted(os.listdir(root)):
        gdir = os.path.join(root, group)
        k = estimates(gdir, "kiln")
        t = estimates(gdir, "tokio")
        if os.path.isfile(k) and os.path.isfile(t):
            rows.append((group, median_ns(k), median_ns(t)))
    return rows


def svg(rows, path):
    bar_h, gap, left, width = 22, 8, 230, 420
    height = 60 + len(rows) * (bar_h + gap)
    scale = width / max(2.0, max(k / t for _, k, t in rows) * 1.1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" '
        'font-family="sans-serif" font-size="13">',
        f'<text x="10" y="22" font-size="15" font-weight="bold">kiln median / tokio median '
        "(lower is better; 1.0 = parity)</text>",
    ]
    x1 = left + scale
    out.append(f'<line x1="{x1}" y1="34" x2="{x1}" y2="{height - 10}" stroke="#444" stroke-dasharray="4"/>')
    out.append(f'<text x="{x1 - 12}" y="{height - 2}">1.0</text>')
    for i, (group, k, t) in enumerate(rows):
        y = 40 + i * (bar_h + gap)
        r = k / t
        color = "#2a9d8f" if r <= 1.0 else "#e76f51"
        out.append(f'<text x="10" y="{y + 16}">{group}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{r * scale:.1f}" height="{bar_h}" fill="{color}"/>')
        out.append(f'<text x="{left + r * scale + 6:.1f}" y="{y + 16}">{r:.2f}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/benchmarks.svg"
    rows = collect(root)
    if not rows:
        sys.exit(f"no kiln/tokio pairs under {root}: run `cargo bench` first")
    print("| workload | kiln median | tokio median | kiln / tokio |")
    print("|---|---|---|---|")
    for group, k, t in rows:
        print(f"| {group} | {fmt(k)} | {fmt(t)} | {k / t:.2f} |")
    svg(rows, out)
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
