"""These tests call /v1/ the way production serves it: through the gateway's lean handler."""

from tests.gateway_client import client  # noqa: F401 - the fixture, for this folder
