#!/usr/bin/env python3
"""Turn bench results into the kiln-vs-tokio table and plot of docs/benchmarks.md.

Usage: python3 docs/plot_benchmarks.py [target/criterion] [docs/benchmarks.svg] [target/kiln-bench]

Wall time: `<group>/<kiln|tokio>/new/estimates.json` that criterion wrote (or, for printed
parts of a bench that are not criterion groups, the medians the bench saved). CPU time: the
`<group>/<kiln|tokio>.json` files the benches save under target/kiln-bench (process CPU time,
user + system, per iteration, median over the same samples as criterion's wall median; see
benches/common/cpu.rs). Prints a Markdown table (medians and kiln/tokio ratios of both; below
1.0 means kiln is faster or cheaper) and writes an SVG bar chart with a wall and a CPU bar per
workload. Standard library only.
"""
import json
import os
import sys


def median_ns(path):
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"]


def fmt(ns):
    if ns is None:
        return "—"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}"


def estimates(gdir, side):
    """`<side>/new/estimates.json`, or `<side>/<parameter>/new/...` for a parameterised
    benchmark with one parameter (such as `tcp_echo/kiln/50`)."""
    base = os.path.join(gdir, side)
    path = os.path.join(base, "new", "estimates.json")
    if os.path.isfile(path) or not os.path.isdir(base):
        return path
    params = [p for p in os.listdir(base) if os.path.isfile(os.path.join(base, p, "new", "estimates.json"))]
    return os.path.join(base, params[0], "new", "estimates.json") if len(params) == 1 else path


def saved(cpu_root, group, side):
    """The figures a bench saved for `<group>/<side>` (or `<side>_<parameter>`), or None."""
    gdir = os.path.join(cpu_root, group)
    if not os.path.isdir(gdir):
        return None
    names = sorted(os.listdir(gdir))
    if f"{side}.json" in names:
        names = [f"{side}.json"]
    else:  # a parameterised id, `<side>/<parameter>`, saved as `<side>_<parameter>.json`
        names = [n for n in names if n.startswith(f"{side}_") and n.endswith(".json")]
    if len(names) != 1:
        return None
    with open(os.path.join(gdir, names[0])) as f:
        return json.load(f)


def collect(root, cpu_root):
    """Rows `(group, kiln wall, tokio wall, kiln cpu, tokio cpu)` in ns, None where missing."""
    groups = set()
    for d in (root, cpu_root):
        if os.path.isdir(d):
            groups.update(g for g in os.listdir(d) if os.path.isdir(os.path.join(d, g)))
    rows = []
    for group in sorted(groups):
        gdir = os.path.join(root, group)
        k, t = estimates(gdir, "kiln"), estimates(gdir, "tokio")
        ks, ts = saved(cpu_root, group, "kiln"), saved(cpu_root, group, "tokio")
        if os.path.isfile(k) and os.path.isfile(t):
            kw, tw = median_ns(k), median_ns(t)
        elif ks and ts:
            kw, tw = ks["wall_median_ns"], ts["wall_median_ns"]
        else:
            continue
        kc = ks["cpu_median_ns"] if ks and ts else None
        tc = ts["cpu_median_ns"] if ks and ts else None
        rows.append((group, kw, tw, kc, tc))
    return rows


def svg(rows, path):
    bar_h, pair_gap, gap, left, width = 14, 2, 10, 230, 420
    row_h = 2 * bar_h + pair_gap + gap
    height = 70 + len(rows) * row_h
    ratios = [r for _, kw, tw, kc, tc in rows for r in (ratio(kw, tw), ratio(kc, tc)) if r is not None]
    scale = width / max(2.0, max(ratios) * 1.1)
    colors = {"wall": "#2a9d8f", "cpu": "#7b5ea7"}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" '
        'font-family="sans-serif" font-size="13">',
        '<text x="10" y="22" font-size="15" font-weight="bold">kiln median / tokio median '
        "(lower is better; 1.0 = parity)</text>",
        f'<rect x="10" y="32" width="12" height="12" fill="{colors["wall"]}"/>',
        '<text x="28" y="43">wall time</text>',
        f'<rect x="110" y="32" width="12" height="12" fill="{colors["cpu"]}"/>',
        '<text x="128" y="43">process CPU time (user + system)</text>',
    ]
    x1 = left + scale
    out.append(f'<line x1="{x1}" y1="52" x2="{x1}" y2="{height - 14}" stroke="#444" stroke-dasharray="4"/>')
    out.append(f'<text x="{x1 - 12}" y="{height - 2}">1.0</text>')
    for i, (group, kw, tw, kc, tc) in enumerate(rows):
        y = 58 + i * row_h
        out.append(f'<text x="10" y="{y + bar_h + 5}">{group}</text>')
        for j, (kind, r) in enumerate((("wall", ratio(kw, tw)), ("cpu", ratio(kc, tc)))):
            yb = y + j * (bar_h + pair_gap)
            if r is None:
                out.append(f'<text x="{left + 4}" y="{yb + 11}" fill="#888">no {kind} figure</text>')
                continue
            weight = ' font-weight="bold" fill="#c0392b"' if r > 1.0 else ""
            out.append(f'<rect x="{left}" y="{yb}" width="{r * scale:.1f}" height="{bar_h}" fill="{colors[kind]}"/>')
            out.append(f'<text x="{left + r * scale + 6:.1f}" y="{yb + 11}"{weight}>{r:.2f}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/benchmarks.svg"
    cpu_root = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(root.rstrip("/")) or ".", "kiln-bench")
    rows = collect(root, cpu_root)
    if not rows:
        sys.exit(f"no kiln/tokio pairs under {root} or {cpu_root}: run `cargo bench` first")
    print("| workload | kiln wall | tokio wall | wall kiln / tokio | kiln CPU | tokio CPU | CPU kiln / tokio |")
    print("|---|---|---|---|---|---|---|")
    for group, kw, tw, kc, tc in rows:
        print(
            f"| {group} | {fmt(kw)} | {fmt(tw)} | {fmt_ratio(ratio(kw, tw))} "
            f"| {fmt(kc)} | {fmt(tc)} | {fmt_ratio(ratio(kc, tc))} |"
        )
    svg(rows, out)
    print(f"\nwrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
