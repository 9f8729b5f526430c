# Sourced by the bench scripts. announced_port FILE: the port a tnt-server printed to FILE
# ("tnt-server listening on HOST:PORT"), waiting up to 10 s for it; fails if it never came.
announced_port() {
    local port
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$1" 2>/dev/null)
        [[ -n "$port" ]] && { echo "$port"; return 0; }
        sleep 0.1
    done
    echo "tnt-server did not start (see $1)" >&2
    return 1
}
