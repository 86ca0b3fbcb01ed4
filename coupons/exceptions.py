"""Refusals of the coupon and flash-deal rules, each with a stable ``code`` the mini-program
and POS rely on."""

from django.utils.translation import gettext_lazy as _

from backend.exceptions import ApplicationError


class CampaignNotFoundError(ApplicationError):
    code = "not_found"
    status = 404
    default_detail = _("This coupon does not exist.")


class CouponNotFoundError(ApplicationError):
    code = "not_found"
    status = 404
    default_detail = _("This coupon does not exist.")


class RedemptionNotFoundError(ApplicationError):
    code = "not_found"
    status = 404
    default_detail = _("This redemption does not exist.")


class MemberUnknownError(ApplicationError):
    """A valid token for a member that no longer exists."""

    code = "member_unknown"
    status = 401
    default_detail = _("Please sign in again.")


# --- claim -------------------------------------------------------------------------------------


class CampaignSoldOutError(ApplicationError):
    code = "sold_out"
    status = 409
    default_detail = _("All coupons of this campaign have been claimed.")


class CampaignLimitReachedError(ApplicationError):
    code = "limit_reached"
    status = 409
    default_detail = _("You already hold as many of these coupons as one member may.")


class CampaignNotStartedError(ApplicationError):
    code = "not_started"
    status = 409
    default_detail = _("This coupon cannot be claimed yet.")


class CampaignEndedError(ApplicationError):
    code = "ended"
    status = 409
    default_detail = _("This coupon can no longer be claimed.")


class CampaignPausedError(ApplicationError):
    code = "paused"
    status = 409
    default_detail = _("This coupon campaign is paused.")


class CampaignNotEligibleError(ApplicationError):
    code = "not_eligible"
    status = 403
    default_detail = _("This coupon is for other members.")


class CampaignStockBelowClaimedError(ApplicationError):
    code = "stock_below_claimed"
    status = 409
    default_detail = _("The total stock cannot be less than what has already been claimed.")


# --- redemption (POS) and the coupon's code (shopper) -------------------------------------------


class CouponAlreadyRedeemedError(ApplicationError):
    code = "already_redeemed"
    status = 409
    default_detail = _("This coupon has already been used.")


class CouponExpiredError(ApplicationError):
    code = "expired"
    status = 409
    default_detail = _("This coupon has expired.")


class CouponNotStartedError(ApplicationError):
    code = "not_started"
    status = 409
    default_detail = _("This coupon cannot be used yet.")


class CouponWrongStoreError(ApplicationError):
    code = "wrong_store"
    status = 409
    default_detail = _("This coupon is not accepted at this store.")


class CouponMinSpendNotMetError(ApplicationError):
    code = "min_spend_not_met"
    status = 409
    default_detail = _("The basket is below this coupon's minimum spend.")


class CouponPausedError(ApplicationError):
    code = "paused"
    status = 409
    default_detail = _("This coupon's campaign is paused; it cannot be used now.")


class IdempotencyKeyRequiredError(ApplicationError):
    code = "idempotency_key_required"
    status = 400
    default_detail = _("Send an Idempotency-Key header with this request.")


class IdempotencyKeyInvalidError(ApplicationError):
    code = "idempotency_key_invalid"
    status = 400
    default_detail = _("The Idempotency-Key header must be at most 64 characters.")


class IdempotencyKeyReusedError(ApplicationError):
    code = "idempotency_key_reused"
    status = 409
    default_detail = _("This Idempotency-Key was already used for a different request.")


# --- void --------------------------------------------------------------------------------------


class RedemptionWrongStoreError(ApplicationError):
    code = "wrong_store"
    status = 403
    default_detail = _("Only the store that redeemed this coupon can void it.")


class RedemptionAlreadyVoidedError(ApplicationError):
    code = "already_voided"
    status = 409
    default_detail = _("This redemption has already been voided.")


class RedemptionVoidWindowPassedError(ApplicationError):
    code = "void_window_passed"
    status = 409
    default_detail = _("This redemption is too old to be voided.")


# --- flash deals ---------------------------------------------------------------------------------


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
