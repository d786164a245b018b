#!/usr/bin/env bash
# make test-deploy: the deployment files (Dockerfile, deploy/) checked
# without a docker daemon or a cluster, neither of which this machine or CI
# has. BINARY is the release build, for the Dockerfile's library check.
#   tests/deploy/run.sh BINARY
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:?usage: tests/deploy/run.sh BINARY}
pass=0 failed=0
step() {
    local name=$1; shift
    if "$@"; then pass=$((pass + 1)); else echo "test-deploy: FAILED: $name" >&2; failed=$((failed + 1)); fi
}

# Kubernetes manifests and the compose file: strict typed decoding and the
# checks around it, with the negative cases (tests/deploy/deploycheck). Its
# modules come from the Go module proxy once, then from the module cache.
k8s_and_compose() {
    command -v go >/dev/null || { echo "test-deploy: go not found (scripts/bootstrap says how to get it)" >&2; return 1; }
    (cd tests/deploy/deploycheck && go test -count=1 ./...)
}

# haproxy -c, with every warning an error except the replicas' names not
# resolving here (they resolve inside compose's network).
haproxy_cfg() {
    local out
    out=$(haproxy -c -f deploy/haproxy.cfg 2>&1) || { echo "$out" >&2; return 1; }
    if grep '\[WARNING\]' <<<"$out" | grep -v 'could not resolve address' >&2; then return 1; fi
    echo "haproxy -c: deploy/haproxy.cfg valid"
}

prometheus_yml() { promtool check config deploy/prometheus.yml; }

# The same haproxy.cfg in front of two real servers, one of them killed.
haproxy_failover() { tests/deploy/haproxy_failover.sh "$bin"; }

# The Dockerfile's package lists, and a copy with a runtime library and the
# non-root user taken out, which must fail.
dockerfile() {
    tests/deploy/check_dockerfile.sh "$bin" || return 1
    local bad; bad=$(mktemp)
    sed -e 's/ libyaml-0-2 / /' -e 's/^USER .*/USER root/' Dockerfile > "$bad"
    if tests/deploy/check_dockerfile.sh "$bin" "$bad" 2>"$bad.err"; then
        echo "check_dockerfile passed a Dockerfile without libyaml-0-2 and running as root" >&2
        rm -f "$bad" "$bad.err"; return 1
    fi
    grep -q 'libyaml-0-2' "$bad.err" && grep -q "USER is 'root'" "$bad.err" || { cat "$bad.err" >&2; rm -f "$bad" "$bad.err"; return 1; }
    rm -f "$bad" "$bad.err"
    echo "check_dockerfile: the broken copy fails as it should"
}

step "k8s manifests and compose file" k8s_and_compose
step "deploy/haproxy.cfg" haproxy_cfg
step "deploy/haproxy.cfg failover" haproxy_failover
step "deploy/prometheus.yml" prometheus_yml
step "Dockerfile" dockerfile
echo "test-deploy: $pass passed, $failed failed"
[ $failed = 0 ]
