#!/usr/bin/env bash
# Prepare this machine for the sandbox's backends; safe to run any number of times.
#  - installs bubblewrap and docker.io with apt-get when running as root and they are missing;
#  - starts a docker daemon (no iptables, no bridge: sandboxes get no network anyway) when
#    none answers;
#  - builds the docker backend's image locally (sandbox/image.py; no registry is needed).
# The daemon is reached through the Docker SDK for Python, as the sandbox reaches it: the
# docker client binary is neither needed nor looked for.
# Silent when all is well; one line on stderr per thing that could not be done. Never fails:
# a backend that cannot be set up is reported as unavailable (`agent doctor`) and its tests skip.
set -u
cd "$(dirname "$0")/.." || exit 0
PYTHON=${PYTHON:-python}
say() { echo "setup_host: $*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
daemon_answers() {
    timeout 10 "$PYTHON" -c "from sandbox.container import client; client().ping()" >/dev/null 2>&1
}

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
if [ ${#missing[@]} -gt 0 ]; then
    if is_root && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 \
                 && apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } \
            || say "could not install ${missing[*]} with apt-get"
    else
        say "${missing[*]} missing and cannot be installed here (needs root and apt-get)"
    fi
fi

"$PYTHON" -c "import docker" >/dev/null 2>&1 \
    || { say "no Docker SDK for Python (pip install docker): the docker backend is unavailable"; exit 0; }
if ! daemon_answers && is_root && command -v dockerd >/dev/null 2>&1; then
    setsid nohup dockerd --iptables=false --bridge=none >/var/log/agent-sandbox-dockerd.log 2>&1 &
    for _ in $(seq 40); do daemon_answers && break; sleep 0.5; done
fi
if ! daemon_answers; then
    say "no docker daemon answers: the docker backend is unavailable and its tests will skip"
    exit 0
fi
"$PYTHON" -c "from sandbox.image import build_image; build_image()" >/dev/null 2>&1 \
    || say "could not build the sandbox image: the docker backend is unavailable"
exit 0
