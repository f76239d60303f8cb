"""The server's last word on an exception no view handled (Django's `handler500`): a database out of reach for a
moment (lib.dbpool) is a 503 with `Retry-After`: JSON on the API's paths, text for an ADE panel's htmx request
(ade.js shows it as a notice), and a page that retries by itself for the rest of the ADE; anything else stays a
500. DRF views answer the API's own 503 first (api.base.exception_handler); this catches what fails outside them
(a session read in a middleware, an ADE view)."""

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.defaults import server_error as django_server_error

from accounts.middleware import API_PREFIXES
from lib.dbpool import RETRY_AFTER_SECONDS, UNAVAILABLE_DETAIL, database_unavailable


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]  # Django calls the handler while the exception is being handled
    if exc is None or not database_unavailable(exc):
        return django_server_error(request)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.path_info.startswith(API_PREFIXES):
        return JsonResponse({"detail": UNAVAILABLE_DETAIL}, status=503, headers=headers)
    if request.headers.get("HX-Request"):  # an ADE panel's request: htmx swaps no 5xx, ade.js shows the text
        return HttpResponse(UNAVAILABLE_DETAIL, status=503, headers=headers, content_type="text/plain; charset=utf-8")
    # Rendered without the request: its context processors would read the session, i.e. the database.
    page = render_to_string("unavailable.html", {"detail": UNAVAILABLE_DETAIL, "retry_after": RETRY_AFTER_SECONDS})
    return HttpResponse(page, status=503, headers=headers)
