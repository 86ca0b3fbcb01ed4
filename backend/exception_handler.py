"""One error shape for the whole API: ``{"code": "...", "detail": "..."}``.

Domain errors (``ApplicationError``), DRF's own errors and Django's ``ValidationError``,
``Http404`` (and any ``Model.DoesNotExist``) and ``PermissionDenied`` all leave through here.
Validation errors also carry ``fields``, the per-field messages, so that a client can point at
the wrong input.
"""

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from backend.exceptions import ApplicationError


def _first_message(errors):
    """The first human-readable message in a DRF error structure, prefixed by its field."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            message = _first_message(value)
            if field in ("non_field_errors", "__all__"):
                return message
            return f"{field}: {message}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def error_body(code, detail, **extra):
    return {"code": code, "detail": str(detail), **extra}


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.detail, **exc.extra), status=exc.status)

    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404 | ObjectDoesNotExist):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's 500 handler answers and logs it

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, exceptions.ValidationError):
        body = error_body("invalid", _first_message(exc.detail), fields=exc.detail)
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        detail = exc.detail if isinstance(exc.detail, str) else _first_message(exc.detail)
        body = error_body(code, detail)
    return Response(body, status=exc.status_code, headers=headers)


def _is_api_path(request):
    return request.path.startswith("/api/")


def json_not_found(request, exception=None):
    """Django's 404 page for paths that no route matches; JSON under /api/."""
    if _is_api_path(request):
        return JsonResponse(
            error_body("not_found", _("Not found.")), status=status.HTTP_404_NOT_FOUND
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_server_error(request):
    if _is_api_path(request):
        return JsonResponse(
            error_body("server_error", _("Something went wrong on our side; please try again.")),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    from django.views.defaults import server_error

    return server_error(request)
