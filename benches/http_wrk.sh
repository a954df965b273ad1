#!/usr/bin/env bash
# hyper on kiln vs hyper on tokio under wrk (examples/http_server.rs), three routes:
#   hello       GET /          answers at once
#   sleep       GET /sleep     waits 1 ms on the runtime's timer
#   blocking    GET /blocking  runs a 50 µs CPU job through spawn_blocking
# Each route is loaded in alternating rounds (kiln first in odd rounds, tokio first in even
# ones), every case twice: on the machine as it is ("quiet"), and beside a busy neighbour (one
# busy loop per CPU at normal priority, started and stopped by this script).
#
#   benches/http_wrk.sh [ROUNDS] [DURATION] [WORKERS] [CONNECTIONS]   (defaults: 6 4s 2 50)
#   ROUTES="hello sleep" MODES=quiet benches/http_wrk.sh             (a subset)
#   KILN_ARGS="--wake-patience 400" benches/http_wrk.sh              (extra kiln server flags)
#
# Builds the example itself (cargo build --release --features hyper --example http_server).
# Needs `wrk` (Debian: apt-get install -y wrk). Per round it prints requests/s, p50 and p99
# latency, and the server process's CPU time (utime + stime from /proc/PID/stat, before and
# after the round) as CPU µs per request; then per case the medians over rounds and the ratios
# kiln/tokio. Linux only (/proc).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-6}
duration=${2:-4s}
workers=${3:-2}
conns=${4:-50}
routes=${ROUTES:-hello sleep blocking}
modes=${MODES:-quiet busy}
bin=target/release/examples/http_server

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --quiet --features hyper --example http_server

hz=$(getconf CLK_TCK)
tmp=$(mktemp -d)
pids=()
neighbours=()
stop_neighbours() {
  for p in "${neighbours[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${neighbours[@]}"; do wait "$p" 2>/dev/null || true; done
  neighbours=()
}
cleanup() {
  stop_neighbours
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck disable=SC2086 # KILN_ARGS is a list of words on purpose
"$bin" 18190 --workers "$workers" ${KILN_ARGS:-} >/dev/null 2>&1 & kiln_pid=$!; pids+=("$kiln_pid")
"$bin" 18191 --workers "$workers" --tokio >/dev/null 2>&1 & tokio_pid=$!; pids+=("$tokio_pid")
sleep 1

# The process's CPU time so far, in clock ticks (fields 14 and 15 of /proc/PID/stat; the
# command name in field 2 has no spaces here).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# wrk's latency figures in microseconds.
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000000}}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

run() { # mode route side pid port path
  local out rps p50 p99 c0 c1 cpu_us per_req
  c0=$(cpu_ticks "$4")
  out=$(wrk --latency -t1 -c"$conns" -d"$duration" "http://127.0.0.1:$5$6")
  c1=$(cpu_ticks "$4")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out" | to_us)
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out" | to_us)
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu_us=$(( (c1 - c0) * 1000000 / hz ))
  per_req=$(awk -v c="$cpu_us" -v n="$reqs" 'BEGIN {printf "%.1f", (n > 0 ? c / n : 0)}')
  printf '%-5s %-8s %-5s round %d: %9.0f req/s  p50 %7.0f us  p99 %7.0f us  cpu %6.0f ms (%s us/req)\n' \
    "$1" "$2" "$3" "$round" "$rps" "$p50" "$p99" "$((cpu_us / 1000))" "$per_req"
  echo "$rps $p50 $p99 $((cpu_us / 1000)) $per_req" >>"$tmp/$1.$2.$3"
}

path_of() { case $1 in hello) echo /;; sleep) echo /sleep;; blocking) echo /blocking;; esac; }

for mode in $modes; do
  if [ "$mode" = busy ]; then
    for _ in $(seq "$(nproc)"); do
      bash -c 'while :; do :; done' & neighbours+=("$!")
    done
  fi
  for route in $routes; do
    path=$(path_of "$route")
    for round in $(seq 1 "$rounds"); do
      if (( round % 2 )); then
        run "$mode" "$route" kiln "$kiln_pid" 18190 "$path"
        run "$mode" "$route" tokio "$tokio_pid" 18191 "$path"
      else
        run "$mode" "$route" tokio "$tokio_pid" 18191 "$path"
        run "$mode" "$route" kiln "$kiln_pid" 18190 "$path"
      fi
    done
  done
  stop_neighbours
done

col() { cut -d' ' -f"$2" "$1" | median; }
echo
echo "medians over $rounds rounds (wrk -t1 -c$conns -d$duration, $workers workers; ratio = kiln/tokio)"
printf '%-5s %-8s %-5s %9s %8s %8s %8s %8s\n' mode route side "req/s" "p50 us" "p99 us" "cpu ms" "us/req"
for mode in $modes; do
  for route in $routes; do
    for side in kiln tokio; do
      f="$tmp/$mode.$route.$side"
      printf '%-5s %-8s %-5s %9.0f %8.0f %8.0f %8.0f %8.1f\n' "$mode" "$route" "$side" \
        "$(col "$f" 1)" "$(col "$f" 2)" "$(col "$f" 3)" "$(col "$f" 4)" "$(col "$f" 5)"
    done
    k="$tmp/$mode.$route.kiln"; t="$tmp/$mode.$route.tokio"
    awk -v r1="$(col "$k" 1)" -v r2="$(col "$t" 1)" -v a1="$(col "$k" 2)" -v a2="$(col "$t" 2)" \
        -v b1="$(col "$k" 3)" -v b2="$(col "$t" 3)" -v c1="$(col "$k" 5)" -v c2="$(col "$t" 5)" \
        -v m="$mode" -v r="$route" 'BEGIN {
      printf "%-5s %-8s ratio %9.2f %8.2f %8.2f %8s %8.2f\n", m, r, r1 / r2, a1 / a2, b1 / b2, "", (c2 > 0 ? c1 / c2 : 0)
    }'
  done
done
