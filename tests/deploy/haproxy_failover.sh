#!/usr/bin/env bash
# deploy/haproxy.cfg in action, outside compose: two real `capstan server`
# processes stand for capstan-1 and capstan-2 (the config's server lines
# and binds are pointed at loopback ports, nothing else is changed). With
# both up, HAProxy's /health checks must mark both UP; then capstan-2 is
# killed (SIGKILL: no goodbye) and every one of 20 requests must still
# succeed at once, through the retry on connection failure and the
# redispatch to capstan-1, before any health check could have noticed
# (fall 2 x inter 5s: 5 s at the least, against about 0.2 s for the 20
# requests). With NO_RETRY=1 the copy loses its retries and redispatch, and
# the request that meets the dead replica must fail (1 of 20 since the first
# refused connection takes a replica out, on-error mark-down; about half
# before): that shows the test has teeth (run by hand, not by make test,
# since a slow enough machine would let the health check mark capstan-2
# down first and make it pass).
#   tests/deploy/haproxy_failover.sh BINARY
set -euo pipefail
bin=$(realpath "${1:?usage: haproxy_failover.sh BINARY}")
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Free loopback ports, from the kernel (bind to 0), five of them.
read -r p1 p2 pfront pstats psock < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

wait_up() {  # wait_up URL: until it answers 200 (the process is starting)
    for _ in $(seq 200); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "haproxy_failover: $1 never answered" >&2; return 1
}

for i in 1 2; do
    port=$([ $i = 1 ] && echo "$p1" || echo "$p2")
    "$bin" server --host 127.0.0.1 --port "$port" --data "$work/data$i" \
        --monitor-windows off >"$work/capstan$i.log" 2>&1 &
    pids+=($!)
    wait_up "http://127.0.0.1:$port/health"
done
victim=${pids[1]}

sed -e "s/server capstan-1 capstan-1:5000/server capstan-1 127.0.0.1:$p1/" \
    -e "s/server capstan-2 capstan-2:5000/server capstan-2 127.0.0.1:$p2/" \
    -e "s/bind :5000/bind 127.0.0.1:$pfront/" -e "s/bind :8404/bind 127.0.0.1:$pstats/" \
    -e "s|^global|global\n    stats socket $work/haproxy.sock|" \
    deploy/haproxy.cfg >"$work/haproxy.cfg"
if [ "${NO_RETRY:-0}" = 1 ]; then
    sed -i -e '/^    retries /d' -e '/option redispatch/d' -e '/retry-on/d' \
        -e 's/^defaults/defaults\n    retries 0/' "$work/haproxy.cfg"
fi
grep -q "127.0.0.1:$p2" "$work/haproxy.cfg" || { echo "haproxy_failover: the server lines moved; update the sed" >&2; exit 1; }
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$pfront/health"

# Both replicas UP by their health checks.
up=0
for _ in $(seq 200); do
    up=$(python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"show stat\n")
out = b""
while True:
    b = s.recv(65536)
    if not b: break
    out += b
print(sum(1 for l in out.decode().splitlines() if l.startswith("capstan,capstan-") and ",UP," in l))' "$work/haproxy.sock")
    [ "$up" = 2 ] && break
    sleep 0.05
done
[ "$up" = 2 ] || { cat "$work/haproxy.log" >&2; echo "haproxy_failover: $up of 2 replicas UP by /health" >&2; exit 1; }

{ kill -9 "$victim"; wait "$victim"; } 2>/dev/null || true
ok=0 bad=0
for _ in $(seq 20); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pfront/version")
    if [ "$code" = 200 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
done
echo "haproxy_failover: after capstan-2 was killed, $ok of 20 requests answered 200, $bad did not"
[ "$bad" = 0 ]
