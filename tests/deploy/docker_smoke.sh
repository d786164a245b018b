#!/usr/bin/env bash
# Builds the image and runs it, where a docker daemon is reachable (not part
# of make test: this machine and CI have no daemon). The server on a named
# volume must turn "healthy" by its own HEALTHCHECK, run as 10001 and write
# its database to the volume; `capstan serve` against it must answer
# /health and /v2/health/ready. Both run as deploy/k8s/ runs them:
# read-only root filesystem, /tmp (and serve's data directory) writable
# scratch, every capability dropped, no privilege escalation. Host
# networking, so that a daemon started without a bridge (--bridge=none)
# serves too.
#   tests/deploy/docker_smoke.sh [IMAGE]        (default capstan:smoke)
set -euo pipefail
cd "$(dirname "$0")/../.."
img=${1:-capstan:smoke}
sp=${SMOKE_SERVER_PORT:-5391} vp=${SMOKE_SERVE_PORT:-5392}
vol=capstan-smoke-$$
docker build --network host -t "$img" .
cleanup() { docker rm -f "$vol-server" "$vol-serve" >/dev/null 2>&1 || true; docker volume rm "$vol" >/dev/null 2>&1 || true; }
trap cleanup EXIT
[ "$(docker run --rm --entrypoint id "$img" -u)" = 10001 ] || { echo "smoke: the image does not run as 10001" >&2; exit 1; }
locked=(--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges)
docker run -d --name "$vol-server" --network host "${locked[@]}" -e CAPSTAN_PORT="$sp" \
    -v "$vol:/var/lib/capstan" "$img" >/dev/null
# the HEALTHCHECK's own verdict: starting, then healthy (or unhealthy)
for _ in $(seq 120); do
    st=$(docker inspect -f '{{.State.Health.Status}}' "$vol-server")
    [ "$st" = starting ] || break
    sleep 1
done
[ "$st" = healthy ] || { docker logs "$vol-server" >&2; echo "smoke: server health is $st" >&2; exit 1; }
docker run -d --name "$vol-serve" --network host "${locked[@]}" --tmpfs /var/lib/capstan:uid=10001 \
    -e CAPSTAN_PORT="$vp" \
    -e CAPSTAN_REGISTRY="http://127.0.0.1:$sp" "$img" serve >/dev/null
for _ in $(seq 60); do curl -fsS "http://127.0.0.1:$vp/health" >/dev/null 2>&1 && break; sleep 0.5; done
for u in "$sp/health" "$sp/metrics" "$vp/health" "$vp/v2/health/ready"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$u")
    echo "smoke: GET :$u -> $code"
    [ "$code" = 200 ] || { docker logs "$vol-serve" >&2; exit 1; }
done
docker run --rm -v "$vol:/var/lib/capstan" --entrypoint ls "$img" /var/lib/capstan | grep -qx capstan.db ||
    { echo "smoke: no capstan.db in the volume" >&2; exit 1; }
echo "smoke: passed ($img: healthy server as 10001, database on the volume, serve ready)"
