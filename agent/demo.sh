#!/bin/sh
# The ROT13 agent, socket-activated by systemd-socket-activate, answering one client: the
# README's first command ends here. Usage: agent/demo.sh [BUILD_DIR] [TEXT]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
text=${2:-Hello, World! Snakes on demand.}
dir=$(mktemp -d)
sock="$dir/rot13.sock"

# The manager owns the socket; pylaunchd starts on the first connection and checks in.
systemd-socket-activate -l "$sock" "$build/pylaunchd" "$here/Agent.py" 2>"$dir/log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
i=0
until [ -S "$sock" ]; do
	i=$((i + 1))
	if [ "$i" -gt 200 ]; then
		cat "$dir/log" >&2
		echo "demo: $sock never appeared" >&2
		exit 1
	fi
	sleep 0.05
done
echo "sent:     $text"
printf 'received: %s\n' "$(printf '%s\n' "$text" | socat -t 5 - "UNIX-CONNECT:$sock")"
