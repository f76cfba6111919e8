#!/bin/sh
# `signoff simulate --engine spark` runs on Apache Spark, whose driver is a JVM: Debian's
# `default-jre-headless` gives a Java runtime (17 on bookworm, what pyspark 4 needs) for the tests
# in local mode (tests/test_simulate_spark.py). Each step says what it does on stderr.
set -e
say() { echo "install-java: $*" >&2; }
if [ -n "$JAVA_HOME" ] && [ -x "$JAVA_HOME/bin/java" ]; then
  say "java is already installed ($JAVA_HOME/bin/java)"
  exit 0
fi
if command -v java >/dev/null 2>&1; then
  say "java is already installed ($(command -v java))"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  say "java is missing; run as root, or: sudo apt-get install -y default-jre-headless"
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
say "installing default-jre-headless with apt-get (about 200 MB)"
if ! apt-get install -y -o Dpkg::Progress-Fancy=0 default-jre-headless >&2; then
  say "the package lists are out of date: running apt-get update, then installing again"
  apt-get update >&2
  apt-get install -y -o Dpkg::Progress-Fancy=0 default-jre-headless >&2
fi
say "java installed ($(command -v java))"
