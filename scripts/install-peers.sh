#!/bin/sh
# Installs the Debian packages the test suite runs against (see docs/testing.md).
# Does nothing when they are all present; needs root (apt-get) otherwise.
set -eu
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium fonts-liberation"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
# Celery broker for the job tests under `lemur worker` (tests/jobs/conftest.py starts its own)
command -v redis-server >/dev/null 2>&1 || need="$need redis-server"
# keytool reads back the JKS exports (tests/plugins/test_jks_exporters.py)
command -v keytool >/dev/null 2>&1 || need="$need openjdk-17-jre-headless"
if [ -n "$need" ]; then
    echo "installing Debian packages:$need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi
