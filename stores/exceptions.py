"""Refusals of the stores area, each with a stable code."""

from django.utils.translation import gettext_lazy as _

from backend.exceptions import ApplicationError


class InvalidCredentialsError(ApplicationError):
    code = "invalid_credentials"
    status = 401
    default_detail = _("Wrong username or password.")


class NotStoreStaffError(ApplicationError):
    code = "not_store_staff"
    status = 403
    default_detail = _("This account is not a cashier or store manager of a store.")


class TooManyAttemptsError(ApplicationError):
    code = "too_many_attempts"
    status = 429
    default_detail = _("Too many failed sign-ins; wait a minute and try again.")
