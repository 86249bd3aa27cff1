# Captures the page Django sends for an unhandled exception with
# DEBUG = True (the technical 500 page). Usage: python3 django_app.py
import sys
from wsgiref.simple_server import make_server

import django
from django.conf import settings
from django.urls import path

settings.configure(
    DEBUG=True,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="fixture-only-not-a-secret",
    MIDDLEWARE=[],
)
django.setup()


def boom(request):
    return 1 / 0


urlpatterns = [path("boom", boom)]

from django.core.servers.basehttp import WSGIRequestHandler  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=WSGIRequestHandler)
print(server.server_port, flush=True)
server.serve_forever()
