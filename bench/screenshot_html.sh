#!/usr/bin/env bash
# Screenshot an HTML report with headless Chromium, to check how it reads in a real browser:
#   bench/screenshot_html.sh REPORT.html OUT.png [WIDTHxHEIGHT]
# Installs Debian's `chromium` package if it is missing (only this script needs it). The
# default window is 1400x1600; the report is meant to be usable from 1280 px wide.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTHxHEIGHT]" >&2
    exit 2
fi
report=$(realpath -- "$1")
out=$(realpath -m -- "$2")
size=${3:-1400x1600}
if [[ ! -f $report ]]; then
    echo "$0: no such file: $1" >&2
    exit 2
fi
if [[ ! $size =~ ^([0-9]+)x([0-9]+)$ ]]; then
    echo "$0: size must be WIDTHxHEIGHT, e.g. 1280x1200, not $size" >&2
    exit 2
fi

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-dejavu-core
    browser=$(command -v chromium)
fi

# A throw-away profile, so the screenshot does not depend on (or touch) a user's profile;
# Chromium's chatter (D-Bus, GPU, its launcher) is shown only when the screenshot fails.
rm -f -- "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# --no-sandbox: Chromium refuses to run as root with its sandbox; the page is our own file.
if ! "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --user-data-dir="$work/profile" \
        --window-size="${BASH_REMATCH[1]},${BASH_REMATCH[2]}" \
        --screenshot="$out" "file://$report" >"$work/log" 2>&1 || [[ ! -s $out ]]; then
    cat "$work/log" >&2
    echo "$0: no screenshot written" >&2
    exit 1
fi
echo "$out"
