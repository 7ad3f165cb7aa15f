#!/usr/bin/env bash
# Headless Chromium for the admin page's browser test (core/receiver,
# TestBrowser*). Installs Debian's `chromium` package when no browser is
# found, then prints its path. Idempotent; needs root only to install.
#
#   .ci/chromium.sh install   install when missing, print the binary's path
#   .ci/chromium.sh path      print the binary's path, exit 1 when absent
set -euo pipefail

find_chromium() {
	local c
	for c in "${JSONEVENT_CHROMIUM:-}" chromium chromium-browser google-chrome; do
		[[ -n "$c" ]] || continue
		if command -v "$c" >/dev/null 2>&1; then
			command -v "$c"
			return 0
		fi
	done
	return 1
}

case "${1:-install}" in
path)
	find_chromium
	;;
install)
	if find_chromium; then
		exit 0
	fi
	if [[ $(id -u) -ne 0 ]]; then
		echo "chromium.sh: chromium is not installed; run as root: apt-get install -y chromium" >&2
		exit 1
	fi
	echo "chromium.sh: installing Debian's chromium package" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
	find_chromium
	;;
*)
	echo "usage: $0 install|path" >&2
	exit 2
	;;
esac
