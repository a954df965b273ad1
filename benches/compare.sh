#!/usr/bin/env bash
# Before/after comparison of the kiln-vs-tokio benches: runs the criterion benches of two
# builds interleaved on this machine and prints medians of wall and CPU time for both.
#
# Usage: benches/compare.sh [-n ROUNDS] [-b BENCH]... [-o OUT] A B [-- BENCH_ARGS...]
#
#   A, B        a git revision (built with `cargo bench --no-run --all-features` in a temporary
#               worktree that shares this checkout's target directory, so only kiln's own
#               crates are rebuilt; this replaces the checkout's own bench binaries there, so
#               run `cargo bench --no-run` again afterwards), or a directory of already-built
#               bench binaries: either one holding `scheduler`, `sync`, ... or cargo's
#               `target/release/deps` (the newest `scheduler-<hash>` etc. is taken). Binaries
#               are copied to OUT before any revision is built.
#   -b BENCH    a bench to run; repeat for several (default: scheduler sync timer blocking net
#               process).
#   -n ROUNDS   rounds (default 3). In each round every bench runs once for each side, in the
#               order A, B in odd rounds and B, A in even ones, so drift in the machine's load
#               hits both alike.
#   -o OUT      where runs and logs go (default target/compare/<time>).
#   BENCH_ARGS  passed to every bench binary after `--bench --noplot`: criterion filters and
#               options, e.g. `-- ping_pong --warm-up-time 1 --measurement-time 2`.
#
# Each run gets its own CRITERION_HOME and KILN_BENCH_DIR, so runs never see each other's
# baselines. The table is the median over rounds of each run's median per iteration: wall from
# criterion (or, for a bench's printed parts, from what it saved) and process CPU time (user +
# system) from benches/common/cpu.rs. A build whose benches predate the CPU recorder shows no
# CPU figures ("—"). Example (a small subset):
#
#   benches/compare.sh -n 2 -b scheduler HEAD~1 HEAD -- ping_pong --warm-up-time 1 --measurement-time 2
#
# Placement: a contended workload can run at two speeds depending on where its objects land
# in memory, and that placement follows from what the process allocated before it,
# criterion's paths included (malloc reuses the chunks they freed). With fixed paths, a build
# lands on the same placement in every round, and two builds that are equal over many
# placements can measure 1.5x apart (`mpsc_throughput`). So each run's directory name, and
# with it CRITERION_HOME and KILN_BENCH_DIR, has a random length: the rounds sample placements.
set -euo pipefail

rounds=3
benches=()
out=""
while getopts "n:b:o:h" opt; do
    case $opt in
        n) rounds=$OPTARG ;;
        b) benches+=("$OPTARG") ;;
        o) out=$OPTARG ;;
        h) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [-n ROUNDS] [-b BENCH]... [-o OUT] A B [-- BENCH_ARGS...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -lt 2 ]; then
    echo "$0: need two sides to compare (git revisions or bench binary directories); -h for help" >&2
    exit 2
fi
side_a=$1 side_b=$2
shift 2
[ "${1:-}" = "--" ] && shift
bench_args=("$@")
case $rounds in
    '' | *[!0-9]* | 0) echo "$0: -n wants a positive number of rounds, got '$rounds'" >&2; exit 2 ;;
esac
[ ${#benches[@]} -eq 0 ] && benches=(scheduler sync timer blocking net process)

repo=$(git rev-parse --show-toplevel)
target=${CARGO_TARGET_DIR:-$repo/target}
out=${out:-$target/compare/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Copies the bench binaries of directory `$1` to `$2` (named by bench), so that building a
# revision later (which replaces the checkout's own binaries in the shared target directory)
# cannot change them.
snapshot() {
    local dir=$1 bin=$2 b
    mkdir -p "$bin"
    for b in "${benches[@]}"; do
        cp "$(binary "$dir" "$b")" "$bin/$b"
    done
}

# Prints the directory of bench binaries for side `$1` labelled `$2`, building it if needed.
prepare() {
    local spec=$1 label=$2
    if [ -d "$spec" ]; then
        snapshot "$(cd "$spec" && pwd)" "$out/bin-$label"
        echo "$out/bin-$label"
        return
    fi
    local rev
    rev=$(git -C "$repo" rev-parse --verify --quiet "$spec^{commit}") || {
        echo "$0: '$spec' is neither a directory nor a git revision" >&2
        return 1
    }
    local tree="$out/src-$label" bin="$out/bin-$label"
    git -C "$repo" worktree add --detach --force "$tree" "$rev" >&2
    mkdir -p "$bin"
    echo "building $spec ($rev) in $tree" >&2
    (cd "$tree" && CARGO_TARGET_DIR=$target cargo bench --no-run --all-features --message-format=json) |
        python3 -c '
import json, os, shutil, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and "bench" in m["target"]["kind"] and m.get("executable"):
        shutil.copy2(m["executable"], os.path.join(sys.argv[1], m["target"]["name"]))
' "$bin"
    git -C "$repo" worktree remove --force "$tree" >&2
    echo "$bin"
}

# Prints the binary of bench `$2` in directory `$1`.
binary() {
    local dir=$1 name=$2
    if [ -x "$dir/$name" ] && [ -f "$dir/$name" ]; then
        echo "$dir/$name"
        return
    fi
    local found
    found=$(ls -t "$dir/$name"-* 2>/dev/null | grep -E "/$name-[0-9a-f]{16}$" | head -n 1 || true)
    if [ -z "$found" ]; then
        echo "$0: no '$name' bench binary in $dir" >&2
        return 1
    fi
    echo "$found"
}

# Directories first: a revision's build may replace the binaries they hold.
if [ -d "$side_b" ] && [ ! -d "$side_a" ]; then
    dir_b=$(prepare "$side_b" B)
    dir_a=$(prepare "$side_a" A)
else
    dir_a=$(prepare "$side_a" A)
    dir_b=$(prepare "$side_b" B)
fi
echo "A = $side_a ($dir_a)"
echo "B = $side_b ($dir_b)"
for b in "${benches[@]}"; do
    binary "$dir_a" "$b" >/dev/null
    binary "$dir_b" "$b" >/dev/null
done

for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then order=(A B); else order=(B A); fi
    for b in "${benches[@]}"; do
        for side in "${order[@]}"; do
            if [ "$side" = A ]; then dir=$dir_a; else dir=$dir_b; fi
            # A run directory name of random length (see "Placement" above).
            run="$out/runs/$side/$r-$(head -c $((RANDOM % 32)) /dev/zero | tr '\0' p)"
            mkdir -p "$run"
            echo "round $r/$rounds: $b on $side"
            # Benches run from the repository root, as under `cargo bench`.
            (cd "$repo" && CRITERION_HOME="$run/criterion" KILN_BENCH_DIR="$run/kiln-bench" \
                "$(binary "$dir" "$b")" --bench --noplot "${bench_args[@]}") \
                >>"$run/$b.log" 2>&1 || echo "  $b on $side failed: see $run/$b.log" >&2
        done
    done
done

python3 - "$out/runs" "$side_a" "$side_b" <<'PY'
import json, os, statistics, sys

runs, name_a, name_b = sys.argv[1:4]


def one_run(path):
    """{(group, id): [wall_ns, cpu_ns]} of one run directory."""
    res = {}
    crit = os.path.join(path, "criterion")
    for dirpath, dirs, files in os.walk(crit):
        if os.path.basename(dirpath) == "new" and "estimates.json" in files:
            rel = os.path.relpath(os.path.dirname(dirpath), crit).split(os.sep)
            if len(rel) < 2 or rel[0] == "report":
                continue
            with open(os.path.join(dirpath, "estimates.json")) as f:
                wall = json.load(f)["median"]["point_estimate"]
            res.setdefault((rel[0], "/".join(rel[1:])), [None, None])[0] = wall
    saved = os.path.join(path, "kiln-bench")
    for dirpath, dirs, files in os.walk(saved):
        for fname in files:
            if fname.endswith(".json"):
                with open(os.path.join(dirpath, fname)) as f:
                    d = json.load(f)
                entry = res.setdefault((d["group"], d["id"]), [None, None])
                if entry[0] is None:
                    entry[0] = d["wall_median_ns"]
                entry[1] = d["cpu_median_ns"]
    return res


def side(label):
    per = {}
    root = os.path.join(runs, label)
    for r in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        for key, (w, c) in one_run(os.path.join(root, r)).items():
            slot = per.setdefault(key, ([], []))
            if w is not None:
                slot[0].append(w)
            if c is not None:
                slot[1].append(c)
    return {k: tuple(statistics.median(v) if v else None for v in vals) for k, vals in per.items()}


def fmt(ns):
    if ns is None:
        return "—"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def ratio(x, y):
    return "—" if x is None or not y else f"{x / y:.2f}"


a, b = side("A"), side("B")
keys = sorted(set(a) | set(b))
if not keys:
    sys.exit("no results: see the logs under " + runs)
none = (None, None)
print(f"\nA = {name_a}, B = {name_b}; medians over rounds of each run's median per iteration\n")
print("| benchmark | A wall | B wall | B/A wall | A CPU | B CPU | B/A CPU |")
print("|---|---|---|---|---|---|---|")
for k in keys:
    (aw, ac), (bw, bc) = a.get(k, none), b.get(k, none)
    print(f"| {k[0]}/{k[1]} | {fmt(aw)} | {fmt(bw)} | {ratio(bw, aw)} | {fmt(ac)} | {fmt(bc)} | {ratio(bc, ac)} |")

print("\nkiln / tokio (below 1.0: kiln is faster or cheaper)\n")
print("| group | A wall | B wall | A CPU | B CPU |")
print("|---|---|---|---|---|")
for g in sorted({k[0] for k in keys}):
    def pair(res, i):
        ks = [v for (gg, idd), v in res.items() if gg == g and (idd == "kiln" or idd.startswith("kiln/"))]
        ts = [v for (gg, idd), v in res.items() if gg == g and (idd == "tokio" or idd.startswith("tokio/"))]
        return ratio(ks[0][i], ts[0][i]) if len(ks) == 1 and len(ts) == 1 else "—"
    row = [pair(a, 0), pair(b, 0), pair(a, 1), pair(b, 1)]
    if any(x != "—" for x in row):
        print(f"| {g} | " + " | ".join(row) + " |")
PY
echo "runs and logs: $out/runs"
