#!/bin/sh
# The HTML report is tested in a real headless browser: Debian's Chromium, driven by Playwright
# (pip, in the `dev` extra) with executable_path, so no browser is ever downloaded.
set -e
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "install-browser: chromium is missing; run as root, or: sudo apt-get install -y chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }
