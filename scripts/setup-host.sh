#!/usr/bin/env bash
# Install what is missing on a Debian 12 host, then the project's venv (.venv). Idempotent:
# a second run installs nothing and takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
while read -r entry; do
    case "$entry" in ''|'#'*) continue ;; esac
    pkg=${entry%@*}
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$entry")
done < scripts/host-packages.txt

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-host: installing ${missing[*]}"
    if printf '%s\n' "${missing[@]}" | grep -q '@bookworm-backports'; then
        # Backports are pinned low by Debian (priority 100): only what we name comes from it.
        if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
            printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
        fi
    fi
    $SUDO apt-get update -q
    plain=() backports=()
    for entry in "${missing[@]}"; do
        case "$entry" in
            *@bookworm-backports) backports+=("${entry%@*}") ;;
            *) plain+=("$entry") ;;
        esac
    done
    export DEBIAN_FRONTEND=noninteractive
    if [ ${#backports[@]} -gt 0 ]; then
        $SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports "${backports[@]}"
    fi
    if [ ${#plain[@]} -gt 0 ]; then
        $SUDO apt-get install -y -q --no-install-recommends "${plain[@]}"
    fi
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "setup-host: ready ($(qemu-system-aarch64 --version | head -1))"
