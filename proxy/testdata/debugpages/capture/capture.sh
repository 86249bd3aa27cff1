#!/bin/sh
# Regenerates the captured pages in ../ from the real frameworks. It is not
# part of the test run: the tests read the committed captures. Needs
# python3-flask, python3-werkzeug and python3-django (Debian packages),
# node and npm (express is installed in a temporary directory, never in the
# repository) and Go. Each application runs on 127.0.0.1 with an empty
# environment, so no variable of the capturing machine ends up in a page.
# A second Python with another Werkzeug (PY3=/path/to/python3) adds the
# werkzeug3_* captures; /usr/bin/python3 gives the werkzeug2_* and django3_*.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(dirname "$here")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home"

# run OUT HOST ACCEPT COMMAND...: starts COMMAND (which prints its port),
# saves the raw response to GET /boom, stops it.
run() {
	o=$1 h=$2 a=$3
	shift 3
	env -i PATH=/usr/bin:/bin HOME="$tmp/home" "$@" >"$tmp/port" 2>"$tmp/err" &
	pid=$!
	i=0
	while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	port=$(cat "$tmp/port")
	[ "$h" = self ] && h=127.0.0.1:$port
	python3 "$here/rawget.py" "$port" /boom "$out/$o" "$h" "$a"
	kill $pid
	wait $pid 2>/dev/null || true
	: >"$tmp/port"
}

cd "$here"
run werkzeug2_debugger.http self text/html /usr/bin/python3 flask_app.py debugger
run django3_technical500.http app.example text/html /usr/bin/python3 django_app.py
run django3_technical500_text.http app.example application/json /usr/bin/python3 django_app.py
if [ -n "${PY3:-}" ]; then
	run werkzeug3_debugger.http self text/html "$PY3" flask_app.py debugger
	run werkzeug3_traceback.http app.example text/html "$PY3" flask_app.py traceback
	run werkzeug3_nodebugger.http app.example text/html "$PY3" flask_app.py nodebugger
fi

for v in 5 4; do
	mkdir -p "$tmp/express$v"
	cp express_app.js "$tmp/express$v/app.js"
	(cd "$tmp/express$v" && npm init -y >/dev/null && npm install "express@$v" --no-audit --no-fund >/dev/null)
	run express${v}_development.http app.example text/html node "$tmp/express$v/app.js"
done
run express5_production.http app.example text/html env NODE_ENV=production node "$tmp/express5/app.js"

mkdir -p "$tmp/gopanic"
cp gopanic.go "$tmp/gopanic/main.go"
printf 'module example.test/gopanic\n\ngo 1.27\n' >"$tmp/gopanic/go.mod"
(cd "$tmp/gopanic" && go build -o gopanic .)
run go_recovery.http app.example text/html "$tmp/gopanic/gopanic"
{
	printf 'HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
	"$tmp/gopanic/gopanic" crash 2>&1 >/dev/null || true
} >"$out/go_panic_stderr.http"
