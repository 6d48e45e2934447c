#!/usr/bin/env bash
# Install what is missing on a Debian 12 host, then the project's venv (.venv). Idempotent:
# a second run installs nothing and takes about a second. Prints how long each step took.
#
#   scripts/setup-host.sh                   what `pmu-harness run` needs (README's main job)
#   scripts/setup-host.sh --kernel-builds   also what building a source kernel needs
#   scripts/setup-host.sh --dev             also the test and lint tools (scripts/run-tests.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

lists=(scripts/host-packages.txt)
extras=""
for arg in "$@"; do
    case "$arg" in
        --kernel-builds) lists+=(scripts/host-packages-kbuild.txt) ;;
        --dev) extras="[dev]" ;;
        *) echo "setup-host: unknown option $arg (--kernel-builds, --dev)" >&2; exit 2 ;;
    esac
done

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

step_started=0
begin() { step_started=$(date +%s%N); }
took() { echo "setup-host: $1 took $(( ($(date +%s%N) - step_started) / 1000000 )) ms"; }

begin
entries=()
while read -r entry; do
    case "$entry" in ''|'#'*) continue ;; esac
    entries+=("$entry")
done < <(cat "${lists[@]}")
# One dpkg-query for all of them: the installed ones, by name.
installed=" $(dpkg-query -W -f='${db:Status-Status}:${Package} ' "${entries[@]%@*}" 2>/dev/null \
    | tr ' ' '\n' | sed -n 's/^installed://p' | tr '\n' ' ') "
missing=()
for entry in "${entries[@]}"; do
    case "$installed" in *" ${entry%@*} "*) ;; *) missing+=("$entry") ;; esac
done
took "checking ${lists[*]}"

updated=0
apt_install() {  # apt_install [-t RELEASE] PACKAGE...
    if [ "$updated" = 0 ]; then
        begin
        $SUDO apt-get update -q
        took "apt-get update"
        updated=1
    fi
    begin
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@"
    took "apt-get install $*"
}

python_env() {
    begin
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
        took "python3 -m venv"
        begin
    fi
    # pip is skipped when what it installed is still what pyproject.toml asks for (an
    # install with [dev] has everything one without it needs).
    local stamp=.venv/.pmu-harness-installed want have
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $extras"
    have=$(cat "$stamp" 2>/dev/null || true)
    if [ "$have" != "$want" ] && [ "$have" != "$want[dev]" ]; then
        .venv/bin/python -m pip install -q -e ".$extras"
        echo "$want" > "$stamp"
        took "pip install -e .$extras"
    fi
}

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-host: installing ${missing[*]}"
    if printf '%s\n' "${missing[@]}" | grep -q '@bookworm-backports'; then
        # Backports are pinned low by Debian (priority 100): only what we name comes from it.
        if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
            printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
        fi
    fi
fi
plain=() backports=() venv_missing=0
for entry in "${missing[@]}"; do
    case "$entry" in
        python3-venv) venv_missing=1 ;;
        *@bookworm-backports) backports+=("${entry%@*}") ;;
        *) plain+=("$entry") ;;
    esac
done
# The venv first (it needs only python3-venv), so that pip runs while apt installs the rest.
if [ "$venv_missing" = 1 ]; then
    apt_install python3-venv
fi
python_env &
python_job=$!
if [ ${#backports[@]} -gt 0 ]; then
    apt_install -t bookworm-backports "${backports[@]}"
fi
if [ ${#plain[@]} -gt 0 ]; then
    apt_install "${plain[@]}"
fi
wait "$python_job"
echo "setup-host: ready ($(qemu-system-aarch64 --version | head -1))"
