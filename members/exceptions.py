"""Domain errors of members: login, phone binding, legacy cards, tags."""

from django.utils.translation import gettext_lazy as _

from backend.exceptions import ApplicationError


class MemberDisabledError(ApplicationError):
    code = "member_disabled"
    status = 403
    default_detail = _("This membership has been disabled; please contact customer service.")


class PhoneTakenError(ApplicationError):
    """The phone, or the legacy card behind it, already belongs to another member."""

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


class LegacyCardNotClaimedError(ApplicationError):
    """The number is an old plastic card that no member has taken over yet."""

    code = "card_not_claimed"
    status = 404
    default_detail = _(
        "This card has not been linked to a member yet: the shopper binds the card's phone in "
        "the mini-program first."
    )


class LegacyImportFileError(ApplicationError):
    """The file cannot be imported at all (as opposed to single bad rows, which are rejected)."""

    code = "legacy_import_file_invalid"
    status = 400
    default_detail = _("This file cannot be imported.")


class TargetedIssueNotAllowedError(ApplicationError):
    code = "targeted_issue_not_allowed"
    status = 409
    default_detail = _("This campaign cannot be issued to a tag.")
