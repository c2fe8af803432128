"""WSGI entry point (gunicorn config.wsgi): /v1/ goes to the gateway's lean handler
(gateway/wsgi.py), every other path to Django's usual one."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
site = get_wsgi_application()

from gateway.wsgi import GatewayHandler, by_path  # noqa: E402 - needs the apps loaded

application = by_path(site=site, gateway=GatewayHandler())
