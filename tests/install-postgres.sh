#!/bin/sh
# The store contract suite runs on a real PostgreSQL: Debian's `postgresql` package gives initdb and
# postgres, and the tests start a throwaway cluster of their own (tests/pg.py) as an unprivileged user.
# Each step says what it does on stderr.
set -e
say() { echo "install-postgres: $*" >&2; }
found=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | head -n 1 || true)
if [ -n "$found" ] || command -v initdb >/dev/null 2>&1; then
  say "postgresql is already installed (${found:-$(command -v initdb)})"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  say "postgresql is missing; run as root, or: sudo apt-get install -y postgresql"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
say "installing postgresql with apt-get (about 50 MB)"
if ! apt-get install -y -o Dpkg::Progress-Fancy=0 postgresql >&2; then
  say "the package lists are out of date: running apt-get update, then installing again"
  apt-get update >&2
  apt-get install -y -o Dpkg::Progress-Fancy=0 postgresql >&2
fi
say "postgresql installed ($(ls -d /usr/lib/postgresql/*/bin/initdb | head -n 1))"
