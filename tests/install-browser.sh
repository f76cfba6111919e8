#!/bin/sh
# The HTML report is tested in a real headless browser: Debian's Chromium, driven by Playwright
# (pip, in the `dev` extra) with executable_path, so no browser is ever downloaded.
# Each step says what it does on stderr, and apt-get's own progress is shown: a first install
# downloads and unpacks about 100 MB and takes a minute or two.
set -e
say() { echo "install-browser: $*" >&2; }
if command -v chromium >/dev/null 2>&1; then
  say "chromium is already installed ($(command -v chromium))"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  say "chromium is missing; run as root, or: sudo apt-get install -y chromium"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
say "installing chromium with apt-get (about 100 MB; this takes a minute or two)"
if ! apt-get install -y -o Dpkg::Progress-Fancy=0 chromium >&2; then
  say "the package lists are out of date: running apt-get update, then installing again"
  apt-get update >&2
  apt-get install -y -o Dpkg::Progress-Fancy=0 chromium >&2
fi
say "chromium installed ($(command -v chromium))"
