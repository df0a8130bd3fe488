"""Monitoring tests reuse the served model of the serving tests."""

from tests.serving.conftest import production_server, served, server_factory

__all__ = ["production_server", "served", "server_factory"]
