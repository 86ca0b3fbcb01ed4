"""Domain errors of flash deals, each with the stable code the mini-program switches on."""

from django.utils.translation import gettext_lazy as _

from backend.exceptions import ApplicationError


class DealNotFoundError(ApplicationError):
    code = "not_found"
    status = 404
    default_detail = _("This deal does not exist.")


class DealSoldOutError(ApplicationError):
    code = "sold_out"
    status = 409
    default_detail = _("Sold out.")


class DealLimitReachedError(ApplicationError):
    code = "limit_reached"
    status = 409
    default_detail = _("You already have as many of this deal as one member may have.")


class DealNotStartedError(ApplicationError):
    code = "not_started"
    status = 409
    default_detail = _("This deal has not started yet.")


class DealEndedError(ApplicationError):
    code = "ended"
    status = 409
    default_detail = _("This deal has ended.")


class DealPausedError(ApplicationError):
    code = "paused"
    status = 409
    default_detail = _("This deal is paused.")


class DealPhoneRequiredError(ApplicationError):
    code = "phone_required"
    status = 403
    default_detail = _("Bind your phone number to grab this deal.")


class DealNotEligibleError(ApplicationError):
    code = "not_eligible"
    status = 403
    default_detail = _("This deal is reserved for selected members.")


class FlashOrderNotFoundError(ApplicationError):
    code = "not_found"
    status = 404
    default_detail = _("This order does not exist.")


class PaymentMismatchError(ApplicationError):
    """A payment notice that does not match an order: unknown order, wrong amount."""

    code = "payment_mismatch"
    status = 400
    default_detail = _("The payment does not match the order.")
