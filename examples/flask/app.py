"""The seed's Flask application, as it runs behind rampart.

This is the application the hardening checklist in the seed guide was written
for, minus what rampart now does in front of it:

  * Flask-Talisman is gone. rampart sets Strict-Transport-Security,
    Content-Security-Policy, X-Content-Type-Options, X-Frame-Options,
    Referrer-Policy, ... exactly once, on every response including error
    pages. Keeping Talisman as well would send each header twice (once from
    the app, once from the gateway), and its force_https=True is what caused
    the redirect loop behind a proxy that sent no X-Forwarded-Proto.
  * Flask-WTF's CSRFProtect is gone. rampart refuses every cross-site
    unsafe request (POST, PUT, PATCH, DELETE) with 403 before it reaches
    the app: Sec-Fetch-Site, then Origin against the Host the browser used.
    That covers every form, including those CSRFProtect would have missed
    because a template forgot its csrf_token. What no CSRF defence covers is
    a GET that changes state: any page can make a browser send one, so this
    app changes state on POST only. Keeping CSRFProtect as well would add
    no check rampart does not make, at the cost of a token in every form
    and a session cookie to hold it.
  * flask-jwt-extended is not needed. Signing in, the session cookie
    (__Host-, Secure, HttpOnly, SameSite=Strict, one hour, refreshed and
    revocable), logout and the log of every attempt are rampart's: its
    login page is /.well-known/rampart/login, and its auth.rules say which
    paths need a user. For each request with a session, rampart sends the
    user in X-Rampart-User, the roles in X-Rampart-Roles, and a signed
    assertion of both in X-Rampart-Assertion (an EdDSA JWT that lives one
    minute). The app believes the first two only when the third verifies
    against rampart's public keys and names the same user: see
    verify_assertion below. rampart removes any copy of these headers a
    client sends, so through rampart they cannot be forged; the app checks
    the assertion anyway, so that a request reaching port 5000 some other
    way (another process on the machine, a firewall mistake) with a
    made-up X-Rampart-User gets 401, not the account it names.
  * The RotatingFileHandler (10 KB x 3 files) is gone. rampart writes one
    injection-safe access-log line per request with the real client address;
    this app only logs its own events to stderr, which gunicorn collects.
  * TLS, HTTP/2, the 80 -> 443 redirect, the hidden Server header and the
    limit_req rate limit on /api/ were nginx's job; they are rampart's now.

What stays the application's job: its SECRET_KEY (checked loudly below), no
debug mode in production, trusting exactly one proxy hop through ProxyFix
so that request.remote_addr, request.scheme and url_for(..., _external=True)
describe the real client and the real https URL, and verifying the identity
rampart sends (RAMPART_AUTH_JWKS_FILE, the file rampart keeps its public
keys in, is required).

SECRET_KEY: nothing in this app signs with it today. Flask-WTF's CSRF
token, kept in Flask's session cookie, was its only user. The check stays:
Flask's session, flash() and most extensions sign with SECRET_KEY, and
without one Flask only fails when a request first uses the session (a 500
in production) or, worse, someone "fixes" that with a hard-coded key.
Refusing to start without a strong key keeps the day someone adds
session["..."] safe, and costs a deployment one line.

Run it (Debian packages python3-flask, python3-jwt, python3-cryptography and
gunicorn; use /usr/bin/python3, not another interpreter that cannot see
Debian's packages):

    export SECRET_KEY="$(/usr/bin/python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    export RAMPART_AUTH_JWKS_FILE="$PWD/state/jwks.json" RAMPART_AUTH_ASSERTION_AUDIENCE=seed-app
    /usr/bin/python3 -m gunicorn --bind 127.0.0.1:5000 app:app
"""

import collections
import functools
import logging
import os
import threading
import time

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask, abort, g, jsonify, redirect, render_template, request, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

# MIN_SECRET_KEY_LENGTH is the shortest SECRET_KEY accepted. The key signs
# Flask's session cookie; a short or guessable key lets anyone forge
# sessions. secrets.token_urlsafe(32) gives 43 characters.
MIN_SECRET_KEY_LENGTH = 32

# The identity rampart sends (auth.headers in rampart.yaml renames them;
# these are its defaults).
USER_HEADER = "X-Rampart-User"
ROLES_HEADER = "X-Rampart-Roles"
ASSERTION_HEADER = "X-Rampart-Assertion"

# What a rampart assertion is: its typ (in the JOSE header and in the
# claims, so that the session cookie's token, typ "rampart+access", is never
# taken for one), its issuer, its one algorithm, and the audience rampart
# signs it for (auth.assertion_audience, "rampart-upstream" by default).
ASSERTION_TYPE = "rampart+assertion"
ASSERTION_ISSUER = "rampart"
ASSERTION_ALGORITHM = "EdDSA"
DEFAULT_AUDIENCE = "rampart-upstream"
# The header rampart writes has exactly these fields: jwk, jku, x5u, crit
# and the rest are refused rather than ignored (nothing is ever fetched or
# trusted from the token itself).
ASSERTION_HEADER_FIELDS = frozenset(("alg", "kid", "typ"))
# An assertion lives one minute; the leeway covers clock skew between
# rampart and the app, on another machine. On one machine there is none.
ASSERTION_LEEWAY_SECONDS = 30
# rampart's tokens are at most 3840 bytes; a longer header is not parsed.
MAX_ASSERTION_LENGTH = 3840
# A JWKS of a few Ed25519 keys is about 500 bytes.
MAX_JWKS_BYTES = 64 * 1024


class ConfigError(RuntimeError):
    """Raised at startup when the environment does not configure the app safely."""


class Refused(Exception):
    """An identity that does not verify. The reason is for the log only."""


Identity = collections.namedtuple("Identity", "user roles auth_time expires")


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


def load_identity_config(environ=os.environ):
    """Return (jwks_file, audience) from the environment, or raise ConfigError.

    The names are rampart's own environment variables for auth.jwks_file and
    auth.assertion_audience, so one environment file configures both sides
    alike. Without the JWKS file no identity can be verified: every page that
    needs a user would answer 401, so the app refuses to start instead.
    """
    path = environ.get("RAMPART_AUTH_JWKS_FILE", "")
    if not path:
        raise ConfigError(
            "RAMPART_AUTH_JWKS_FILE is not set; refusing to start: the app verifies "
            "the user rampart sends against the public keys in that file.\n"
            "hint: set it to rampart's auth.jwks_file, e.g. "
            "export RAMPART_AUTH_JWKS_FILE=/var/lib/rampart/jwks.json"
        )
    audience = environ.get("RAMPART_AUTH_ASSERTION_AUDIENCE", "") or DEFAULT_AUDIENCE
    return path, audience


class KeySet:
    """rampart's public keys, read from the JWKS file rampart keeps current.

    The file is read when a kid is not known yet (at the first request, and
    after rampart rotates its key), and only if it changed since it was last
    read, so a stream of assertions with made-up kids costs one fstat each.
    rampart publishes each key a day before it signs with it and replaces the
    file atomically, so a reader never sees half a file.
    """

    def __init__(self, path, logger):
        self._path = path
        self._log = logger
        self._lock = threading.Lock()
        self._keys = {}
        self._stamp = None

    def get(self, kid):
        key = self._keys.get(kid)
        if key is None:
            with self._lock:
                self._reload_if_changed()
                key = self._keys.get(kid)
        return key

    def _reload_if_changed(self):
        try:
            with open(self._path, "rb") as f:
                st = os.fstat(f.fileno())
                stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
                if stamp == self._stamp:
                    return
                data = f.read(MAX_JWKS_BYTES + 1)
        except OSError as e:
            self._log.error("cannot read the JWKS file %s: %s (is rampart running with auth.jwks_file?)", self._path, e)
            return
        if len(data) > MAX_JWKS_BYTES:
            self._log.error("the JWKS file %s is over %d bytes: not rampart's", self._path, MAX_JWKS_BYTES)
            return
        try:
            jwk_set = jwt.PyJWKSet.from_json(data)
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError, KeyError) as e:
            self._log.error("the JWKS file %s holds no usable key: %s", self._path, e)
            return
        keys = {}
        for k in jwk_set.keys:
            # Only Ed25519 public keys: PyJWKSet would also take an "oct"
            # key (an HMAC secret) or an RSA key, which a JWKS rampart wrote
            # never holds, and which must never verify an assertion.
            if isinstance(k.key, Ed25519PublicKey) and isinstance(k.key_id, str) and k.key_id:
                keys[k.key_id] = k
        self._keys, self._stamp = keys, stamp
        self._log.info("read %d key(s) from %s", len(keys), self._path)


def verify_assertion(token, keys, audience, now=None):
    """Verify a rampart assertion and return its claims, or raise Refused.

    Checked, in this order: the length, before anything is parsed; the JOSE
    header, exactly {alg, kid, typ} with alg EdDSA and typ rampart+assertion;
    the kid, one of rampart's keys; then PyJWT with EdDSA as the only
    algorithm (so alg none, or HS256 keyed with the public key, can never
    pass), iss, aud, and exp, nbf, iat required with a small leeway; and the
    typ claim, which an access token carries as rampart+access.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_ASSERTION_LENGTH:
        raise Refused("assertion missing or too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Refused("assertion malformed") from None
    if set(header) != ASSERTION_HEADER_FIELDS:
        raise Refused("assertion header has fields %s" % sorted(header)[:8])
    if header["alg"] != ASSERTION_ALGORITHM:
        raise Refused("assertion alg is not EdDSA")
    if header["typ"] != ASSERTION_TYPE:
        raise Refused("not an assertion (typ)")
    kid = header["kid"]
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise Refused("unknown kid")
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[ASSERTION_ALGORITHM],
            issuer=ASSERTION_ISSUER,
            audience=audience,
            leeway=ASSERTION_LEEWAY_SECONDS,
            options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "sid", "typ"]},
        )
    except jwt.PyJWTError as e:
        raise Refused("assertion refused: %s" % type(e).__name__) from None
    if claims["typ"] != ASSERTION_TYPE:
        raise Refused("not an assertion (typ claim)")
    if claims["aud"] not in (audience, [audience]):
        raise Refused("assertion has more than one audience")
    roles = claims.get("roles", [])
    if not isinstance(claims["sub"], str) or not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Refused("assertion claims malformed")
    return claims


def _header_text(value):
    # WSGI hands header values over as latin-1 (PEP 3333); rampart sends
    # the user name as UTF-8. Decode it back before comparing it with the
    # assertion's subject.
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise Refused("identity header is not UTF-8") from None


def request_identity(keys, audience):
    """The verified identity of the current request, None when it carries
    none, or raise Refused when it carries one that does not verify."""
    users = request.headers.getlist(USER_HEADER)
    roles = request.headers.getlist(ROLES_HEADER)
    assertions = request.headers.getlist(ASSERTION_HEADER)
    if not users and not roles and not assertions:
        return None
    if len(users) != 1 or len(assertions) != 1 or len(roles) > 1:
        raise Refused("identity headers missing or repeated")
    claims = verify_assertion(assertions[0], keys, audience)
    user = _header_text(users[0])
    if claims["sub"] != user:
        raise Refused("%s is not the assertion's subject" % USER_HEADER)
    claimed_roles = claims.get("roles", [])
    if (roles[0] if roles else "") != ",".join(claimed_roles):
        raise Refused("%s is not the assertion's roles" % ROLES_HEADER)
    return Identity(user, tuple(claimed_roles), claims.get("auth_time"), claims["exp"])


def login_required(view):
    """Answer 401 unless the request carries a verified user. Behind rampart,
    auth.rules already sends a visitor without a session to the login page;
    this is the app's own check, for a request that did not come through
    rampart."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.identity is None:
            abort(401)
        return view(*args, **kwargs)

    return wrapped


def role_required(role):
    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if role not in g.identity.roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


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
    jwks_file, audience = load_identity_config(environ)

    # rampart is exactly one trusted hop in front of the app. It removes any
    # X-Forwarded-* headers the client sent and sets its own, so trusting the
    # last value of each (x_for=1, x_proto=1, x_host=1) gives the real client
    # address, "https" and the public host. Trusting more hops than there are
    # proxies would let a client choose its own address.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    keys = KeySet(jwks_file, app.logger)

    @app.before_request
    def identify():
        # Every request, public pages included: an identity that does not
        # verify is refused wherever it is sent, never ignored.
        try:
            g.identity = request_identity(keys, audience)
        except Refused as e:
            # The reason, never the token: it is a credential for a minute.
            app.logger.warning("identity refused from %s: %s", request.remote_addr, e)
            abort(401)

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

    @app.get("/account")
    @login_required
    def account():
        ident = g.identity
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ident.auth_time)) if ident.auth_time else ""
        return render_template("account.html", user=ident.user, roles=ident.roles, since=since)

    @app.get("/admin")
    @role_required("admin")
    def admin():
        return render_template("admin.html", user=g.identity.user)

    @app.get("/api/hello")
    def hello():
        return jsonify(
            message="hello",
            remote_addr=request.remote_addr,
            scheme=request.scheme,
            host=request.host,
            request_id=request.headers.get("X-Request-ID", ""),
            external_url=url_for("hello", _external=True),
            user=g.identity.user if g.identity else None,
        )

    @app.get("/api/slow")
    def slow():
        # A slow endpoint to watch timeouts and rate limits at work. The
        # delay is bounded so it cannot be used to pin workers for long.
        ms = max(0, min(request.args.get("ms", default=250, type=int), 5000))
        time.sleep(ms / 1000)
        return jsonify(slept_ms=ms)

    return app


app = create_app()
