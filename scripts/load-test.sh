#!/usr/bin/env bash
# Load and faults for `mpcr serve` on loopback, every loop bounded (README, "Serving many
# clients"). One server and one helper (`mpcr serve`, at most 8 sessions) serve the
# bundled MNIST model compiled with --exact-truncation, so every client's output must
# equal `mpcr emulate`'s byte for byte. Phases:
#   1. CLIENTS clients at once, INFERENCES inferences each: all outputs equal, no session
#      lost; p50/p95 of the sessions' wall time and the server's peak memory;
#   2. a client killed mid-inference: the others finish;
#   3. 1,000 junk connections: the server still serves a client afterwards;
#   4. the helper killed: every running client exits 3 within 5 s (STOP_WITHIN), and once a new helper
#      is up the server serves a client again.
# Usage: scripts/load-test.sh [CLIENTS [INFERENCES]]   (default 8 25; needs a release build,
# or BIN=DIR naming the directory of mpcc and mpcr; STOP_WITHIN=S relaxes phase 4's 5 s
# for a debug build on a loaded machine)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-8}
inferences=${2:-25}
stop_within=${STOP_WITHIN:-5}
bin=${BIN:-.build/release}
mpcc=$bin/mpcc
mpcr=$bin/mpcr
[ -x "$mpcr" ] || { echo "load-test: build first (swift build -c release)" >&2; exit 1; }
work=$(mktemp -d /tmp/mpcr-load-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "load-test: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }

# A free loopback port: one nothing answers on (bash's /dev/tcp), tried at most 50 times.
free_port() {
  for _ in $(seq 50); do
    local port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
  fail "no free port"
}

"$mpcc" Models/mnist_resnet/model.onnx --keep-maxpool --exact-truncation -o "$work/mnist.mpcb" > /dev/null
for role in client server helper; do "$mpcr" keygen "$work/$role.key" | tr -dc '0-9a-f' > "$work/$role.pub"; done
server_port=$(free_port)
helper_port=$(free_port)
cat > "$work/parties.json" <<EOF
{"timeout_seconds": 30, "connect_timeout_seconds": 10, "parties": {
  "client": {"host": "127.0.0.1", "public_key": "$(cat "$work/client.pub")", "private_key_file": "client.key"},
  "server": {"host": "127.0.0.1", "port": $server_port, "public_key": "$(cat "$work/server.pub")", "private_key_file": "server.key"},
  "helper": {"host": "127.0.0.1", "port": $helper_port, "public_key": "$(cat "$work/helper.pub")", "private_key_file": "helper.key"}}}
EOF
# The inputs: the first INFERENCES test images (the .npy's rows are 1x28x28 float32).
head_npy() {  # head_npy ROWS OUT: the first ROWS rows of test.npy (header rewritten)
  local rows=$1 out=$2 source=Models/mnist_resnet/test.npy
  local header_length=$(( $(od -An -tu2 -j8 -N2 "$source") ))
  local header
  header=$(dd if="$source" iflag=skip_bytes,count_bytes skip=10 count="$header_length" status=none | sed -E "s/\(([0-9]+),/($rows,/")
  local padded
  padded=$(printf '%-*s' $((header_length - 1)) "$header")
  { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $((header_length % 256)))\\x$(printf %02x $((header_length / 256)))"
    printf '%s\n' "$padded"
    dd if="$source" iflag=skip_bytes,count_bytes skip=$((10 + header_length)) count=$((rows * 784 * 4)) bs=65536 status=none; } > "$out"
}
head_npy "$inferences" "$work/x.npy"
head_npy 200 "$work/long.npy"
"$mpcr" emulate "$work/mnist.mpcb" --input "$work/x.npy" --output "$work/expected.npy" > /dev/null

serve() {  # serve ROLE: starts it in the background, its pid in the variable ROLE_pid
  local role=$1 extra=()
  [ "$role" = server ] && extra=(--weights "$work/mnist.mpcw")
  "$mpcr" serve --role "$role" --config "$work/parties.json" --program "$work/mnist.mpcb" "${extra[@]}" --max-sessions 8 --log-json \
    >> "$work/$role.log" 2>> "$work/$role.err" &
  pids+=($!)
  printf -v "${role}_pid" '%s' $!
}
client() {  # client NAME INPUT: one session in the background; its pid in client_pid
  "$mpcr" party --role client --config "$work/parties.json" --program "$work/mnist.mpcb" --input "$2" --output "$work/$1.npy" \
    > "$work/$1.out" 2> "$work/$1.err" &
  client_pid=$!
  pids+=($client_pid)
}
serve server
serve helper
sleep 1

echo "phase 1: $clients clients at once, $inferences inferences each"
declare -A started
client_pids=()
for i in $(seq "$clients"); do
  started[$i]=$(now)
  client "c$i" "$work/x.npy"
  client_pids+=($client_pid)
done
durations=()
for i in $(seq "$clients"); do
  wait "${client_pids[$((i - 1))]}" || fail "client $i exited with $?: $(cat "$work/c$i.err")"
  durations+=("$(calc "$(now) - ${started[$i]}")")
  cmp -s "$work/c$i.npy" "$work/expected.npy" || fail "client $i's outputs differ from the emulator's"
done
ok=$(grep -c '"outcome":"ok"' "$work/server.log" || true)
[ "$ok" -eq "$clients" ] || fail "the server logged $ok good sessions of $clients"
sorted=($(printf '%s\n' "${durations[@]}" | sort -n))
p50=${sorted[$(( (clients - 1) / 2 ))]}
p95=${sorted[$(( (clients * 95 + 99) / 100 - 1 ))]}
memory=$(awk '/VmHWM/ {print $2 / 1024}' "/proc/$server_pid/status")
printf 'phase 1: all %d outputs equal the emulator'"'"'s; session wall time p50 %.2f s, p95 %.2f s (%.3f s per inference at p50); server peak RSS %.0f MB\n' \
  "$clients" "$p50" "$p95" "$(calc "$p50 / $inferences")" "$memory"

echo "phase 2: a client killed mid-inference"
client victim "$work/long.npy"; victim=$client_pid
client steady1 "$work/x.npy"; steady1=$client_pid
client steady2 "$work/x.npy"; steady2=$client_pid
sleep 1
kill -9 "$victim"
wait "$victim" 2>/dev/null || true
for pid in $steady1 $steady2; do wait "$pid" || fail "a client beside the killed one exited with $?"; done
for name in steady1 steady2; do cmp -s "$work/$name.npy" "$work/expected.npy" || fail "$name's outputs differ"; done
echo "phase 2: the other two clients finished with the emulator's outputs"

echo "phase 3: 1000 junk connections"
for _ in $(seq 1000); do
  # A subshell each: the server may close first, and the write's SIGPIPE ends only it.
  (exec 3<>"/dev/tcp/127.0.0.1/$server_port" && printf 'GET / HTTP/1.0\r\n\r\n' >&3) 2>/dev/null || true
done
kill -0 "$server_pid" || fail "the server died"
client after_junk "$work/x.npy"
wait "$client_pid" || fail "a client after the junk exited with $?"
cmp -s "$work/after_junk.npy" "$work/expected.npy" || fail "the outputs after the junk differ"
echo "phase 3: the server still serves ($(grep -c 'dropped a connection' "$work/server.err") connections dropped)"

echo "phase 4: the helper killed"
victims=()
for i in 1 2 3; do client "orphan$i" "$work/long.npy"; victims+=($client_pid); done
sleep 1.5
killed=$(now)
kill -9 "$helper_pid"
wait "$helper_pid" 2>/dev/null || true
for pid in "${victims[@]}"; do
  status=0
  wait "$pid" || status=$?
  [ "$status" -eq 3 ] || fail "a client exited with $status when the helper died (3 expected)"
done
elapsed=$(calc "$(now) - $killed")
[ "$(calc "($elapsed < $stop_within) ? 1 : 0")" = 1 ] || fail "the clients took $elapsed s to stop (more than $stop_within s)"
serve helper
sleep 1
client after_helper "$work/x.npy"
wait "$client_pid" || fail "a client after the helper came back exited with $?"
cmp -s "$work/after_helper.npy" "$work/expected.npy" || fail "the outputs after the helper came back differ"
printf 'phase 4: the 3 clients exited 3 within %.2f s; with a new helper the server serves again\n' "$elapsed"
kill -0 "$server_pid" || fail "the server died"
kill -TERM "$server_pid" "$helper_pid"
wait "$server_pid" || fail "the server exited with $? on SIGTERM"
echo "load-test: passed"
