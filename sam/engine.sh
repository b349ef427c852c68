#!/usr/bin/env bash
# A container engine for the SAM tests (make sam-test), on a machine that may have none: Debian's docker.io
# (and debootstrap, for the stand-in base image) installed if missing, and dockerd started if none answers,
# without a bridge: containers run on the host's network only, and reach nothing but 127.0.0.1.
# Needs root for both; does nothing where Docker already runs.
set -euo pipefail
if docker info >/dev/null 2>&1; then
    exit 0
fi
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q docker.io debootstrap >/dev/null || {
        apt-get update -q >/dev/null && apt-get install -y -q docker.io debootstrap >/dev/null
    }
fi
nohup dockerd --bridge=none --iptables=false >/tmp/kinesis-export-dockerd.log 2>&1 &
for _ in $(seq 60); do
    if docker info >/dev/null 2>&1; then
        exit 0
    fi
    sleep 1
done
echo "dockerd did not start within a minute; the end of its log (/tmp/kinesis-export-dockerd.log):" >&2
tail -n 5 /tmp/kinesis-export-dockerd.log >&2
exit 1
