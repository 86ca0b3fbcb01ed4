"""Writers for coupons: every state change of campaigns, coupons and redemptions."""

import datetime
import hashlib
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from backend.exceptions import CodeExpiredError, InvalidCodeError
from backend.rotating_codes import rotating_code_verify
from coupons.exceptions import (
    CampaignLimitReachedError,
    CampaignNotEligibleError,
    CampaignNotFoundError,
    CampaignSoldOutError,
    CampaignStockBelowClaimedError,
    CouponAlreadyRedeemedError,
    IdempotencyKeyReusedError,
    MemberUnknownError,
    RedemptionAlreadyVoidedError,
    RedemptionNotFoundError,
    RedemptionVoidWindowPassedError,
    RedemptionWrongStoreError,
)
from coupons.models import (
    Audience,
    Campaign,
    Coupon,
    CouponSource,
    CouponStatus,
    MemberCampaignClaims,
    Redemption,
)
from coupons.selectors.coupons import (
    COUPON_CODE_KIND,
    RedemptionQuote,
    campaign_claim_window_refusal,
    campaign_member_is_eligible,
    coupon_evaluate,
)
from members.models import Member, NotificationEvent
from members.services.notifications import notification_enqueue
from stores.authentication import AuthenticatedStaff
from stores.models import Store


def coupon_validity(
    *, campaign: Campaign, now: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime]:
    """When a coupon of ``campaign`` claimed at ``now`` is usable: ``(valid_from, valid_until)``.

    ``valid_days`` runs from the claim to the end of that business day (Asia/Shanghai), so a
    coupon claimed at 21:00 with ``valid_days=7`` is usable until midnight seven days later.
    """
    if campaign.valid_days is not None:
        last_day = timezone.localdate(now) + datetime.timedelta(days=campaign.valid_days)
        end = datetime.datetime.combine(last_day + datetime.timedelta(days=1), datetime.time.min)
        return now, timezone.make_aware(end)
    return campaign.valid_from, campaign.valid_until


def coupon_issue(
    *,
    member: Member,
    campaign: Campaign,
    source: CouponSource,
    now: datetime.datetime | None = None,
) -> Coupon:
    """Create one coupon of ``campaign`` for ``member``.

    Preconditions: the caller has already taken the stock (the campaign's for a claim, the
    deal's for a purchase) and runs inside its transaction. Writes nothing but the coupon.
    """
    now = now or timezone.now()
    valid_from, valid_until = coupon_validity(campaign=campaign, now=now)
    return Coupon.objects.create(
        campaign=campaign,
        member=member,
        source=source,
        valid_from=valid_from,
        valid_until=valid_until,
    )


# --- campaigns (admin) -------------------------------------------------------------------------


def campaign_create(*, campaign: Campaign) -> Campaign:
    """Save a new campaign built by the admin form, with its whole stock remaining.

    Preconditions: ``campaign`` is unsaved and valid (``CampaignForm``). The store list is
    saved by the caller afterwards (it needs the primary key).
    """
    campaign.remaining_stock = campaign.total_stock
    campaign.save()
    return campaign


def campaign_update(
    *, campaign: Campaign, fields: Iterable[str], total_stock: int | None = None
) -> Campaign:
    """Save the edited ``fields`` of ``campaign`` and move its stock to ``total_stock``.

    The stock counters are never written from the loaded row (claims move them meanwhile):
    a change of ``total_stock`` goes through ``campaign_total_stock_set``.
    Raises ``CampaignStockBelowClaimedError`` if the new total is below what was claimed.
    """
    fields = [f for f in fields if f not in _STOCK_FIELDS and f != "stores"]
    with transaction.atomic():
        if fields:
            campaign.save(update_fields=[*fields, "updated_at"])
        if total_stock is not None:
            campaign_total_stock_set(campaign_id=campaign.pk, total_stock=total_stock)
    campaign.refresh_from_db(fields=list(_STOCK_FIELDS))
    return campaign


_STOCK_FIELDS = ("total_stock", "remaining_stock")


def campaign_total_stock_set(*, campaign_id: int, total_stock: int) -> None:
    """Set a campaign's total stock; the remaining stock moves by the same amount.

    Raises ``CampaignStockBelowClaimedError`` (and changes nothing) when fewer than the
    already claimed coupons would remain. Locks the campaign row for the read of the old total.
    """
    with transaction.atomic():
        current = (
            Campaign.objects.select_for_update()
            .values_list("total_stock", flat=True)
            .get(pk=campaign_id)
        )
        delta = total_stock - current
        if delta == 0:
            return
        updated = Campaign.objects.filter(
            pk=campaign_id, remaining_stock__gte=max(-delta, 0)
        ).update(
            total_stock=F("total_stock") + delta,
            remaining_stock=F("remaining_stock") + delta,
        )
        if not updated:
            raise CampaignStockBelowClaimedError()


def campaign_stock_add(*, campaign_id: int, quantity: int) -> None:
    """Add ``quantity`` (> 0) coupons to a campaign's total and remaining stock, atomically."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    Campaign.objects.filter(pk=campaign_id).update(
        total_stock=F("total_stock") + quantity,
        remaining_stock=F("remaining_stock") + quantity,
        updated_at=timezone.now(),
    )


def campaign_pause(*, campaign_ids: Iterable[int]) -> int:
    """Stop claims and redemptions of these campaigns; returns how many changed."""
    return Campaign.objects.filter(pk__in=list(campaign_ids), is_paused=False).update(
        is_paused=True, updated_at=timezone.now()
    )


def campaign_resume(*, campaign_ids: Iterable[int]) -> int:
    """Let paused campaigns be claimed and redeemed again; returns how many changed."""
    return Campaign.objects.filter(pk__in=list(campaign_ids), is_paused=True).update(
        is_paused=False, updated_at=timezone.now()
    )


# --- claim (shopper) ---------------------------------------------------------------------------


def _member_is_eligible(*, campaign: Campaign, member_id: int, now: datetime.datetime) -> bool:
    """The audience check with the one query it needs (none for everyone)."""
    if campaign.audience == Audience.EVERYONE:
        return True
    if campaign.audience == Audience.NEW_MEMBERS:
        joined_at = Member.objects.filter(pk=member_id).values_list("joined_at", flat=True).first()
        return campaign_member_is_eligible(
            campaign=campaign, joined_at=joined_at, tag_ids=frozenset(), now=now
        )
    return Member.tags.through.objects.filter(
        member_id=member_id, tag_id=campaign.audience_tag_id
    ).exists()


def _claimable_campaign(*, campaign_id: int) -> Campaign | None:
    return Campaign.objects.filter(pk=campaign_id, claimable_online=True).first()


def coupon_claim(
    *, member_id: int, campaign_id: int, now: datetime.datetime | None = None
) -> Coupon:
    """A shopper claims one coupon of an online campaign.

    Refuses, cheapest first: unknown or not claimable online (``not_found``), ``paused``,
    ``not_started``, ``ended``, ``not_eligible``, ``sold_out`` as last seen; then in one
    transaction the member's claim counter moves only below the limit (``limit_reached``) and
    the campaign's remaining stock only above zero (``sold_out``; the counter rolls back). The
    campaign row, which every claimant updates, is touched last so its lock is held briefly.

    Side effects: increments the member's ``MemberCampaignClaims`` and decrements
    ``remaining_stock``; writes the coupon.
    """
    now = now or timezone.now()
    campaign = _claimable_campaign(campaign_id=campaign_id)
    if campaign is None:
        raise CampaignNotFoundError()
    refusal = campaign_claim_window_refusal(campaign=campaign, now=now)
    if refusal is not None:
        raise refusal()
    if not _member_is_eligible(campaign=campaign, member_id=member_id, now=now):
        raise CampaignNotEligibleError()
    if campaign.remaining_stock <= 0:
        raise CampaignSoldOutError()

    try:
        with transaction.atomic():
            MemberCampaignClaims.objects.bulk_create(
                [MemberCampaignClaims(member_id=member_id, campaign_id=campaign_id)],
                ignore_conflicts=True,
            )
            if not MemberCampaignClaims.objects.filter(
                member_id=member_id,
                campaign_id=campaign_id,
                claimed__lt=campaign.per_member_limit,
            ).update(claimed=F("claimed") + 1):
                raise CampaignLimitReachedError()
            if not Campaign.objects.filter(pk=campaign_id, remaining_stock__gt=0).update(
                remaining_stock=F("remaining_stock") - 1
            ):
                raise CampaignSoldOutError()
            # Only the key is needed to write the coupon: no query for the member's row.
            return coupon_issue(
                member=Member(pk=member_id),
                campaign=campaign,
                source=CouponSource.CLAIM,
                now=now,
            )
    except IntegrityError:
        # The token names a member that no longer exists (foreign keys checked at commit).
        raise MemberUnknownError() from None


# --- redemption (POS) --------------------------------------------------------------------------


def redemption_request_fingerprint(*, code: str, order_amount_fen: int, receipt_no: str) -> str:
    """A digest of a redemption request's body: a replay must carry the same one."""
    body = f"{code.strip().upper()}\n{order_amount_fen}\n{receipt_no}"
    return hashlib.sha256(body.encode()).hexdigest()


def _redemption_for_key(*, cashier_id: int, idempotency_key: str) -> Redemption | None:
    # Nearly every request carries a new key: ask for the id alone, and load the redemption
    # with its campaign only for a replay.
    redemption_id = (
        Redemption.objects.filter(cashier_id=cashier_id, idempotency_key=idempotency_key)
        .values_list("pk", flat=True)
        .first()
    )
    if redemption_id is None:
        return None
    return Redemption.objects.select_related("campaign").get(pk=redemption_id)


def _replay(redemption: Redemption, fingerprint: str) -> tuple[Redemption, bool]:
    if redemption.request_fingerprint != fingerprint:
        raise IdempotencyKeyReusedError()
    return redemption, True


def redemption_create(
    *,
    staff: AuthenticatedStaff,
    code: str,
    order_amount_fen: int,
    receipt_no: str,
    idempotency_key: str,
    now: datetime.datetime | None = None,
) -> tuple[Redemption, bool]:
    """A cashier redeems the coupon behind ``code`` for a basket: ``(redemption, replayed)``.

    Idempotent per ``(cashier, idempotency_key)``: a request whose key was already used with
    the same body returns the first redemption with ``replayed=True`` (even once its code has
    expired); with a different body it raises ``IdempotencyKeyReusedError``.
    Otherwise raises ``invalid_code``, ``code_expired`` and every refusal of
    ``coupon_evaluate`` (the preview's rules). The coupon moves from unused to used by one
    conditional update, so two tills or two keys never redeem it twice: the loser gets
    ``already_redeemed``, or the winner's answer if it carried the same key.

    Side effects: marks the coupon used and writes the ``Redemption``.
    """
    now = now or timezone.now()
    fingerprint = redemption_request_fingerprint(
        code=code, order_amount_fen=order_amount_fen, receipt_no=receipt_no
    )
    code_error = None
    try:
        coupon_id = rotating_code_verify(kind=COUPON_CODE_KIND, code=code)
    except CodeExpiredError as error:
        coupon_id, code_error = None, error
    existing = _redemption_for_key(cashier_id=staff.id, idempotency_key=idempotency_key)
    if existing is not None:
        return _replay(existing, fingerprint)
    if code_error is not None:
        raise code_error

    coupon = Coupon.objects.select_related("campaign").filter(pk=coupon_id).first()
    if coupon is None:
        raise InvalidCodeError()
    try:
        quote = coupon_evaluate(
            coupon=coupon, store_id=staff.store_id, order_amount_fen=order_amount_fen, now=now
        )
        return _redemption_write(
            quote=quote,
            staff=staff,
            receipt_no=receipt_no,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            now=now,
        ), False
    except CouponAlreadyRedeemedError:
        # A parallel request with this very key may have won: give its answer back.
        existing = _redemption_for_key(cashier_id=staff.id, idempotency_key=idempotency_key)
        if existing is not None:
            return _replay(existing, fingerprint)
        raise


def _redemption_write(
    *,
    quote: RedemptionQuote,
    staff: AuthenticatedStaff,
    receipt_no: str,
    idempotency_key: str,
    fingerprint: str,
    now: datetime.datetime,
) -> Redemption:
    coupon = quote.coupon
    try:
        with transaction.atomic():
            if not Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.UNUSED).update(
                status=CouponStatus.USED, redeemed_at=now
            ):
                raise CouponAlreadyRedeemedError()
            redemption = Redemption.objects.create(
                coupon=coupon,
                campaign=quote.campaign,
                store_id=staff.store_id,
                cashier_id=staff.id,
                redeemed_at=now,
                order_amount_fen=quote.order_amount_fen,
                discount_fen=quote.discount_fen,
                receipt_no=receipt_no,
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint,
            )
            notification_enqueue(
                member_id=coupon.member_id,
                event=NotificationEvent.COUPON_REDEEMED,
                payload={
                    "coupon_id": coupon.pk,
                    "campaign_name": quote.campaign.name,
                    "store_name": Store.objects.values_list("name", flat=True).get(
                        pk=staff.store_id
                    ),
                    "discount_fen": quote.discount_fen,
                    "redeemed_at": now,
                },
            )
    except IntegrityError:
        # The key (or, after a race, the coupon) is taken by a committed redemption.
        raise CouponAlreadyRedeemedError() from None
    coupon.status, coupon.redeemed_at = CouponStatus.USED, now
    return redemption


def redemption_void(
    *,
    staff: AuthenticatedStaff,
    redemption_id: int,
    reason: str,
    now: datetime.datetime | None = None,
) -> Redemption:
    """The redeeming store takes a redemption back (a refund at the till).

    Refuses: unknown (``not_found``), another store's (``wrong_store``, 403), already voided
    (``already_voided``), older than ``COUPON_VOID_WINDOW`` (``void_window_passed``). Locks the
    redemption row, so two voids cannot both pass.

    Side effects: records who voided it, when and why; the coupon is unused again (and reads
    as expired by itself if its validity has passed).
    """
    now = now or timezone.now()
    with transaction.atomic():
        redemption = (
            Redemption.objects.select_for_update()
            .select_related("campaign")
            .filter(pk=redemption_id)
            .first()
        )
        if redemption is None:
            raise RedemptionNotFoundError()
        if redemption.store_id != staff.store_id:
            raise RedemptionWrongStoreError()
        if redemption.voided_at is not None:
            raise RedemptionAlreadyVoidedError()
        if now - redemption.redeemed_at > settings.COUPON_VOID_WINDOW:
            raise RedemptionVoidWindowPassedError()
        redemption.voided_at = now
        redemption.voided_by_id = staff.id
        redemption.void_reason = reason
        redemption.save(update_fields=["voided_at", "voided_by", "void_reason"])
        Coupon.objects.filter(pk=redemption.coupon_id, status=CouponStatus.USED).update(
            status=CouponStatus.UNUSED, redeemed_at=None
        )
    return redemption
