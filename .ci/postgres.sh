#!/usr/bin/env bash
# A throw-away PostgreSQL for jsonevent's tests and for trying several nodes
# on one machine. It runs Debian's `postgresql` binaries in a temporary
# directory, on a free loopback port, as a non-root user (PostgreSQL refuses
# to run as root), with trust authentication on 127.0.0.1 only.
#
#   .ci/postgres.sh install            install Debian's postgresql when missing (root)
#   .ci/postgres.sh available          exit 0 when the binaries are present
#   .ci/postgres.sh start [--dir D] [--watch-pid PID]
#                                       start (or find running) and print its DSN
#   .ci/postgres.sh dsn   [--dir D]    print the DSN of the running server
#   .ci/postgres.sh env   [--dir D]    start, then print `export JSONEVENT_TEST_PG_DSN=...`
#   .ci/postgres.sh stop  [--dir D]    stop it and delete its directory
#   .ci/postgres.sh status [--dir D]   exit 0 when running
#
# Every subcommand is idempotent: starting twice prints the same DSN, stopping
# a stopped server succeeds. --dir defaults to $JSONEVENT_PG_DIR, else a
# directory under /tmp derived from this checkout's path, so two checkouts do
# not share a server. --watch-pid stops the server once that process exits
# (the Go test helper passes its own pid, so a killed test run leaks nothing).
#
# JSONEVENT_PG_BINDIR=/usr/lib/postgresql/NN/bin picks one installed version.
# The server is tuned for tests, not durability (fsync=off); set
# JSONEVENT_PG_FSYNC=on for benchmarks that should pay for real commits.
set -euo pipefail

self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
repo="$(cd "$(dirname "$self")/.." && pwd)"

die() { echo "postgres.sh: $*" >&2; exit 1; }

bindir() {
	local d
	if [[ -n "${JSONEVENT_PG_BINDIR:-}" ]]; then
		[[ -x "$JSONEVENT_PG_BINDIR/initdb" ]] && echo "$JSONEVENT_PG_BINDIR"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

cmd_install() {
	if bindir >/dev/null; then
		return 0
	fi
	if [[ $(id -u) -ne 0 ]]; then
		die "PostgreSQL is not installed; run as root: apt-get install -y postgresql (or: sudo $self install)"
	fi
	echo "postgres.sh: installing Debian's postgresql package" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends postgresql >&2
	bindir >/dev/null || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
}

# runas runs a command as the unprivileged owner of the data directory.
runas() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u "$pguser" -- "$@"
	else
		"$@"
	fi
}

# pick_user chooses who runs the server: the caller when not root, else the
# `postgres` user the Debian package creates (or a dedicated system user).
pick_user() {
	if [[ $(id -u) -ne 0 ]]; then
		pguser="$(id -un)"
	elif id postgres >/dev/null 2>&1; then
		pguser=postgres
	else
		id jsonevent-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin jsonevent-pg
		pguser=jsonevent-pg
	fi
}

dsn_of() {
	local port
	port="$(cat "$dir/port")"
	echo "postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable"
}

running() {
	[[ -f "$dir/data/postmaster.pid" && -f "$dir/port" ]] || return 1
	local pid
	pid="$(head -n1 "$dir/data/postmaster.pid")"
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd_start() {
	local bin
	bin="$(bindir)" || die "PostgreSQL binaries not found; run: $self install (as root) or apt-get install postgresql"
	pick_user
	mkdir -p "$dir"
	exec 9>"$dir.lock"
	flock 9
	if running; then
		dsn_of
		exec 9>&-
		return 0
	fi
	if [[ ! -f "$dir/data/PG_VERSION" ]]; then
		rm -rf "$dir/data"
		chown "$pguser" "$dir"
		chmod 700 "$dir"
		runas "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
			--no-sync >"$dir/initdb.log" 2>&1 9>&- || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
	fi
	local fsync="${JSONEVENT_PG_FSYNC:-off}" try port
	for try in 1 2 3 4 5 6 7 8; do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		port_free "$port" || continue
		if runas "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -s start -o \
			"-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=$fsync -c synchronous_commit=$fsync \
			-c full_page_writes=$fsync -c max_connections=300 -c shared_buffers=64MB" </dev/null >/dev/null 2>&1 9>&-; then
			echo "$port" >"$dir/port"
			echo "$pguser" >"$dir/user"
			dsn_of
			exec 9>&-
			return 0
		fi
	done
	tail -n 20 "$dir/server.log" >&2 || true
	die "could not start PostgreSQL in $dir"
}

cmd_stop() {
	[[ -e "$dir" || -e "$dir.lock" ]] || return 0
	local bin
	if [[ -f "$dir/user" ]]; then pguser="$(cat "$dir/user")"; else pick_user; fi
	mkdir -p "$dir"
	exec 9>"$dir.lock"
	flock 9
	if running && bin="$(bindir)"; then
		runas "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop >/dev/null 2>&1 ||
			runas "$bin/pg_ctl" -D "$dir/data" -m immediate -w -s stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	rm -f "$dir.lock"
}

# watch stops the server once process $1 has exited. It is detached from the
# caller's stdout/stderr so that the caller does not wait for it.
watch() {
	local pid="$1"
	setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; JSONEVENT_PG_DIR="$2" exec "$3" stop' \
		watcher "$pid" "$dir" "$self" </dev/null >/dev/null 2>&1 9>&- &
}

sub="${1:-}"
[[ -n "$sub" ]] && shift
dir="${JSONEVENT_PG_DIR:-/tmp/jsonevent-pg-$(id -u)-$(printf '%s' "$repo" | cksum | cut -d' ' -f1)}"
watch_pid=""
while [[ $# -gt 0 ]]; do
	case "$1" in
	--dir) dir="$2"; shift 2 ;;
	--watch-pid) watch_pid="$2"; shift 2 ;;
	*) die "unknown argument $1" ;;
	esac
done
[[ "$dir" = /* ]] || dir="$PWD/$dir"

case "$sub" in
install) cmd_install ;;
available) bindir >/dev/null ;;
start)
	cmd_start
	if [[ -n "$watch_pid" ]]; then watch "$watch_pid"; fi
	;;
dsn)
	running || die "no server running in $dir; run: $self start"
	dsn_of
	;;
env) echo "export JSONEVENT_TEST_PG_DSN='$(cmd_start)'" ;;
stop) cmd_stop ;;
status) running ;;
*) sed -n '2,22p' "$self" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
