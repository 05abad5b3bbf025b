#!/usr/bin/env bash
# Makes sure Debian's headless-capable Chromium is installed, and prints its path.
# The browser tests (tests/browser) drive it over the DevTools protocol, so no
# chromedriver is needed. Idempotent: apt-get runs only when chromium is missing.
set -euo pipefail

find_chromium() {
    command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null
}

if ! path="$(find_chromium)"; then
    echo "ensure-chromium: installing chromium with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Wait for a concurrent apt-get (another ensure-* script) rather than fail.
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium >&2
    path="$(find_chromium)"
fi
# A CJK font, so the console's screenshots of Chinese pages show characters, not boxes
# (the tests read text, never pixels: without it they pass all the same).
if ! fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk"; then
    echo "ensure-chromium: installing fonts-wqy-microhei with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends fonts-wqy-microhei >&2 \
        || echo "ensure-chromium: no CJK font (screenshots of Chinese text show boxes)" >&2
fi
echo "$path"
