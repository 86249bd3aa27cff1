"""The seed's Flask application, as it runs behind rampart.

This is the application the hardening checklist in the seed guide was written
for, minus what rampart now does in front of it:

  * Flask-Talisman is gone. rampart sets Strict-Transport-Security,
    Content-Security-Policy, X-Content-Type-Options, X-Frame-Options,
    Referrer-Policy, ... exactly once, on every response including error
    pages. Keeping Talisman as well would send each header twice (once from
    the app, once from the gateway), and its force_https=True is what caused
    the redirect loop behind a proxy that sent no X-Forwarded-Proto.
  * Flask-WTF's CSRFProtect stays: rampart does not check cross-site
    requests yet (that is planned). Every form carries its token, and a
    cross-site POST is refused here with 400.
  * The RotatingFileHandler (10 KB x 3 files) is gone. rampart writes one
    injection-safe access-log line per request with the real client address;
    this app only logs its own events to stderr, which gunicorn collects.
  * TLS, HTTP/2, the 80 -> 443 redirect, the hidden Server header and the
    limit_req rate limit on /api/ were nginx's job; they are rampart's now.

What stays the application's job: its SECRET_KEY (checked loudly below), no
debug mode in production, and trusting exactly one proxy hop through ProxyFix
so that request.remote_addr, request.scheme and url_for(..., _external=True)
describe the real client and the real https URL.

Run it (Debian packages python3-flask and gunicorn; use /usr/bin/python3, not
another interpreter that cannot see Debian's packages):

    export SECRET_KEY="$(/usr/bin/python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    /usr/bin/python3 -m gunicorn --bind 127.0.0.1:5000 app:app
"""

import logging
import os
import time

from flask import Flask, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

# MIN_SECRET_KEY_LENGTH is the shortest SECRET_KEY accepted. The key signs
# Flask's session cookie; a short or guessable key lets anyone forge
# sessions. secrets.token_urlsafe(32) gives 43 characters.
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(RuntimeError):
    """Raised at startup when the environment does not configure the app safely."""


def load_secret_key(environ=os.environ):
    """Return SECRET_KEY from the environment, or raise ConfigError.

    The seed read it with os.environ.get('SECRET_KEY'), which silently
    yields None when the variable is missing: Flask then runs with sessions
    that fail at the first use, or, worse, someone "fixes" it with a
    hard-coded default. Refusing to start is the only safe answer.
    """
    key = environ.get("SECRET_KEY", "")
    if not key:
        raise ConfigError(
            "SECRET_KEY is not set; refusing to start.\n"
            "hint: export SECRET_KEY=\"$(/usr/bin/python3 -c "
            "'import secrets; print(secrets.token_urlsafe(32))')\""
        )
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            "SECRET_KEY is %d characters long; at least %d are required; refusing to start."
            % (len(key), MIN_SECRET_KEY_LENGTH)
        )
    return key


def _load_dotenv():
    # The seed loaded a .env file. Keep that convenience when python-dotenv
    # (Debian: python3-dotenv) is installed, reading ./.env from the working
    # directory only (not a file found by walking up the tree); the
    # environment always wins. Keep .env out of version control.
    try:
        from dotenv import load_dotenv
    except ImportError:
        return
    load_dotenv(".env", override=False)


def create_app(environ=None):
    if environ is None:
        _load_dotenv()
        environ = os.environ

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=load_secret_key(environ),
        DEBUG=False,
        TESTING=False,
        # The session cookie only travels over HTTPS, is invisible to
        # scripts and is not sent on cross-site requests.
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        # The gateway already limits body size; this is the app's own cap.
        MAX_CONTENT_LENGTH=1 << 20,
    )

    # rampart is exactly one trusted hop in front of the app. It removes any
    # X-Forwarded-* headers the client sent and sets its own, so trusting the
    # last value of each (x_for=1, x_proto=1, x_host=1) gives the real client
    # address, "https" and the public host. Trusting more hops than there are
    # proxies would let a client choose its own address.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    # Every POST needs the form's CSRF token (and, over HTTPS, a same-origin
    # Referer). The seed's "even with JWT" advice holds: a cookie the
    # browser attaches by itself is not proof that the user meant to post.
    CSRFProtect(app)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    @app.get("/")
    def index():
        return render_template("index.html")

    @app.post("/submit")
    def submit():
        message = request.form.get("message", "")[:200]
        # Record the message by name only: it is user input, and log lines
        # are not the place to replay it.
        app.logger.info("form submitted from %s (%d characters)", request.remote_addr, len(message))
        # Post/Redirect/Get. url_for(_external=True) builds the absolute URL
        # from what ProxyFix restored: https and the public host. Without
        # ProxyFix it would say http://127.0.0.1:5000/ and send the browser
        # around the gateway, or into a redirect loop.
        return redirect(url_for("thanks", n=len(message), _external=True), code=303)

    @app.get("/thanks")
    def thanks():
        n = request.args.get("n", default=0, type=int)
        return render_template("thanks.html", n=n)

    @app.get("/api/hello")
    def hello():
        return jsonify(
            message="hello",
            remote_addr=request.remote_addr,
            scheme=request.scheme,
            host=request.host,
            request_id=request.headers.get("X-Request-ID", ""),
            external_url=url_for("hello", _external=True),
        )

    @app.get("/api/slow")
    def slow():
        # A slow endpoint to watch timeouts and rate limits at work. The
        # delay is bounded so it cannot be used to pin workers for long.
        ms = max(0, min(request.args.get("ms", default=250, type=int), 5000))
        time.sleep(ms / 1000)
        return jsonify(slept_ms=ms)

    @app.route("/login", methods=["GET", "POST"])
    def login():
        # A stub: this example has no users. The page only shows where a
        # sign-in form would be.
        if request.method == "POST":
            return render_template("login.html", failed=True), 401
        return render_template("login.html", failed=False)

    return app


app = create_app()
