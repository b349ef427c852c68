#!/usr/bin/env bash
# A stand-in for AWS's Lambda Python base image, for `make sam-invoke` where no container registry can be
# reached: Debian 12's minimal system and Python 3.11 (debootstrap, from Debian's packages), the runtime
# interface client from PyPI (sam/runtime.lock, with hashes) and a bootstrap as AWS's images have. It has a
# name of its own, never AWS's: SAM CLI is pointed at it with --invoke-image (cli/kinesis_export_cli/saminvoke.py).
#   sam/base-image.sh IMAGE UV        e.g. kinesis-export/lambda-python-stand-in:3.14-x86_64 .venv/bin/uv
# Needs root (debootstrap) and a running Docker engine; does nothing when IMAGE is already there.
set -euo pipefail
image=$1
uv=$2
here="$(cd "$(dirname "$0")" && pwd)"

if docker image inspect "$image" >/dev/null 2>&1; then
    exit 0
fi
case "$(uname -m)" in
    x86_64) platform=x86_64-manylinux_2_28 ;;
    aarch64 | arm64) platform=aarch64-manylinux_2_28 ;;
    *) echo "base-image.sh: no stand-in for $(uname -m)" >&2; exit 2 ;;
esac
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "building a stand-in for $image (Debian 12, Python 3.11; sam/base-image.sh) ..." >&2
if ! debootstrap --variant=minbase --include=python3,ca-certificates bookworm "$work/rootfs" \
    "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    exit 1
fi
"$uv" pip install --quiet --require-hashes --no-deps --target "$work/rootfs/var/runtime" \
    --python-version 3.11 --python-platform "$platform" -r "$here/runtime.lock"
install -m 0755 "$here/bootstrap" "$work/rootfs/var/runtime/bootstrap"
mkdir -p "$work/rootfs/var/task" "$work/rootfs/opt"
tar -C "$work/rootfs" -c . | docker import \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
    --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL kinesis-export.stand-in=true kinesis-export.python-version=3.11' \
    --change 'WORKDIR /var/task' \
    --change 'ENTRYPOINT ["/var/runtime/bootstrap"]' \
    - "$image" >/dev/null
echo "built $image (a stand-in: Debian 12 and Python 3.11, not Amazon Linux and the runtime's Python)" >&2
