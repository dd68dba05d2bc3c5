"""A one-file Django project: ``/`` answers the pid. ``asgi`` and ``wsgi`` are its two apps."""

from __future__ import annotations

import os

import django  # type: ignore[import-untyped]
from django.conf import settings  # type: ignore[import-untyped]
from django.http import HttpRequest, HttpResponse  # type: ignore[import-untyped]
from django.urls import path  # type: ignore[import-untyped]

settings.configure(
    DEBUG=False,
    SECRET_KEY="test-only",  # noqa: S106 - a test project
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)


def pid(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(os.getpid()), content_type="text/plain")


urlpatterns = [path("", pid)]
django.setup()

from django.core.asgi import get_asgi_application  # type: ignore[import-untyped]  # noqa: E402 - after settings
from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]  # noqa: E402

asgi = get_asgi_application()
wsgi = get_wsgi_application()
