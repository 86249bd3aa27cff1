# A Flask application configured as the deployment guide recommends behind
# a reverse proxy: Werkzeug's ProxyFix trusting one hop, and HTTPS forced
# (what Flask-Talisman's force_https does). It prints its port, then serves.
import json
import sys

from flask import Flask, redirect, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import make_server

app = Flask(__name__)
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)


@app.before_request
def force_https():
    if not request.is_secure:
        return redirect(request.url.replace("http://", "https://", 1), code=302)


@app.route("/")
def index():
    return json.dumps({
        "scheme": request.scheme,
        "remote_addr": request.remote_addr,
        "host": request.host,
        "user": request.environ.get("HTTP_X_REMOTE_USER", ""),
    })


server = make_server("127.0.0.1", 0, app)
print(server.server_port, flush=True)
server.serve_forever()
