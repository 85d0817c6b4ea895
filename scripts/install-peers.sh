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
# the issuer plugins' CAs: Pebble (ACME) with BIND9 (RFC 2136 for DNS-01), cfssl
command -v pebble >/dev/null 2>&1 || need="$need pebble"
command -v named >/dev/null 2>&1 || [ -x /usr/sbin/named ] || need="$need bind9 bind9-utils"
command -v cfssl >/dev/null 2>&1 || need="$need golang-cfssl"
# the destination plugins' targets: OpenSSH (sftp) and nginx (serves what was deployed)
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
[ -x /usr/sbin/nginx ] || need="$need nginx"
if [ -n "$need" ]; then
    echo "installing Debian packages:$need"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi
