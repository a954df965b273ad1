#!/usr/bin/env bash
# axum hello-world under wrk, kiln vs tokio, alternating rounds (A/B, then B/A).
#   cargo build --profile bench --features hyper --example axum_server
#   benches/axum_wrk.sh [ROUNDS] [DURATION]
#   WRK_THREADS=1 benches/axum_wrk.sh       (wrk threads; default 2)
#   KILN_ARGS="--no-stay" benches/axum_wrk.sh  (extra kiln server flags)
# Needs `wrk` (Debian: apt-get install -y wrk). Prints each round's requests/s, p99 latency and
# the server process's CPU time per request (from /proc, Linux only), then each side's medians.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
duration=${2:-8s}
bin=target/release/examples/axum_server
[ -x "$bin" ] || { echo "build first: cargo build --profile bench --features hyper --example axum_server" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }

wrk_threads=${WRK_THREADS:-2}
# shellcheck disable=SC2086 # KILN_ARGS is a list of flags.
"$bin" 18090 ${KILN_ARGS:-} >/dev/null & kiln_pid=$!
"$bin" 18091 --tokio >/dev/null & tokio_pid=$!
trap 'kill "$kiln_pid" "$tokio_pid" 2>/dev/null || true' EXIT
sleep 1

# wrk's latency figures in microseconds.
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000000}}'; }

# The process's CPU time so far, in clock ticks (utime + stime, fields 14 and 15 of
# /proc/PID/stat; the command name in field 2 has no spaces here). Linux only.
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # name port pid
  local out rps p99 c0 c1 reqs per_req
  c0=$(cpu_ticks "$3")
  out=$(wrk --latency -t"$wrk_threads" -c50 -d"$duration" "http://127.0.0.1:$2/")
  c1=$(cpu_ticks "$3")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out" | to_us)
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  per_req=$(awk -v c="$(( (c1 - c0) * 1000000 / hz ))" -v n="$reqs" 'BEGIN {printf "%.1f", (n > 0 ? c / n : 0)}')
  printf '%-5s round %d: %10.0f req/s  p99 %8.0f us  cpu %5s us/req\n' "$1" "$round" "$rps" "$p99" "$per_req"
  echo "$rps $p99 $per_req" >>"$tmp/$1"
}
tmp=$(mktemp -d)
for round in $(seq 1 "$rounds"); do
  if (( round % 2 )); then run kiln 18090 "$kiln_pid"; run tokio 18091 "$tokio_pid"; else run tokio 18091 "$tokio_pid"; run kiln 18090 "$kiln_pid"; fi
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for side in kiln tokio; do
  printf '%-5s median: %10.0f req/s  p99 %8.0f us  cpu %5s us/req\n' "$side" \
    "$(cut -d' ' -f1 "$tmp/$side" | median)" "$(cut -d' ' -f2 "$tmp/$side" | median)" \
    "$(cut -d' ' -f3 "$tmp/$side" | median)"
done
rm -r "$tmp"
