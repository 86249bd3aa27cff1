"""A Flask application with the routes path-confusion attacks aim at.

paths_test.go runs it under gunicorn behind rampart and sends every
spelling of a path an attacker might use. Each view answers which view
Flask (Werkzeug's router) chose and the path it saw, so the test can check
that rampart applied the rules of the page the application actually
served: the /api/ rate limit to the api view, the strict /admin/ headers
to the admin view, the relaxed /embed/ headers to the embed view only.
"""

from flask import Flask, jsonify, request

app = Flask(__name__)


def served(view):
    return jsonify(view=view, path=request.path)


@app.route("/api/<path:p>")
def api(p):
    return served("api")


@app.route("/admin")
@app.route("/admin/<path:p>")
def admin(p=""):
    return served("admin")


@app.route("/embed/<path:p>")
def embed(p):
    return served("embed")


@app.route("/")
@app.route("/<path:p>")
def other(p=""):
    return served("other")
