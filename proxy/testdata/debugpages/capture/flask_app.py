# Captures the pages a Flask application sends for an unhandled exception,
# as the real Werkzeug produces them. Usage: python3 flask_app.py MODE
# MODE: debugger (flask run --debug), traceback (debugger without the
# console), nodebugger (debug=True, use_debugger=False), production.
import sys

from flask import Flask
from werkzeug.debug import DebuggedApplication
from werkzeug.serving import make_server

app = Flask(__name__)


@app.route("/boom")
def boom():
    return 1 / 0


mode = sys.argv[1]
wsgi = app
if mode == "debugger":
    app.debug = True
    wsgi = DebuggedApplication(app, evalex=True)
elif mode == "traceback":
    app.debug = True
    wsgi = DebuggedApplication(app, evalex=False)
elif mode == "nodebugger":
    app.debug = True
server = make_server("127.0.0.1", 0, wsgi)
print(server.server_port, flush=True)
server.serve_forever()
