"""Members' domain errors."""

from django.utils.translation import gettext_lazy as _

from backend.exceptions import ApplicationError


class MemberDisabledError(ApplicationError):
    code = "member_disabled"
    status = 403
    default_detail = _("This membership has been disabled; please contact customer service.")


class PhoneTakenError(ApplicationError):
    code = "phone_taken"
    status = 409
    default_detail = _("This phone number is already bound to another member.")


class InvalidRefreshTokenError(ApplicationError):
    code = "invalid_refresh_token"
    status = 401
    default_detail = _("The refresh token is invalid or has expired; please log in again.")


class MemberNotFoundError(ApplicationError):
    code = "member_not_found"
    status = 404
    default_detail = _("No member has this number.")
