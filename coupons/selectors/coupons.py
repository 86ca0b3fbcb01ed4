"""Reads for coupons: what a shopper may claim, what they hold, what a coupon gives at a till,
and the figures marketers and store managers watch."""

import datetime
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    Count,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from backend.exceptions import InvalidCodeError
from backend.rotating_codes import IssuedCode, rotating_code_issue, rotating_code_verify
from coupons.exceptions import (
    CampaignEndedError,
    CampaignLimitReachedError,
    CampaignNotEligibleError,
    CampaignNotStartedError,
    CampaignPausedError,
    CampaignSoldOutError,
    CouponAlreadyRedeemedError,
    CouponExpiredError,
    CouponMinSpendNotMetError,
    CouponNotFoundError,
    CouponNotStartedError,
    CouponPausedError,
    CouponWrongStoreError,
)
from coupons.models import (
    Audience,
    Campaign,
    Coupon,
    CouponStatus,
    MemberCampaignClaims,
    Redemption,
)
from members.models import Member

COUPON_CODE_KIND = "C"
# The campaign list also shows what opens within this many days, so shoppers can plan.
UPCOMING_DAYS = 7


# --- claiming ----------------------------------------------------------------------------------


def campaign_member_is_eligible(
    *,
    campaign: Campaign,
    joined_at: datetime.datetime | None,
    tag_ids: set[int] | frozenset[int],
    now: datetime.datetime,
) -> bool:
    """Whether a member who joined at ``joined_at`` and carries ``tag_ids`` is in the audience."""
    if campaign.audience == Audience.NEW_MEMBERS:
        return joined_at is not None and joined_at >= now - datetime.timedelta(
            days=campaign.new_member_days
        )
    if campaign.audience == Audience.TAG:
        return campaign.audience_tag_id in tag_ids
    return True


def campaign_claim_window_refusal(*, campaign: Campaign, now: datetime.datetime):
    """The error class that refuses a claim from the campaign row alone, or ``None``.

    Order: paused, not started, ended. The per-member checks come after these.
    """
    if campaign.is_paused:
        return CampaignPausedError
    if now < campaign.claim_starts_at:
        return CampaignNotStartedError
    if now >= campaign.claim_ends_at:
        return CampaignEndedError
    return None


def campaign_claim_refusal(
    *, campaign: Campaign, now: datetime.datetime, eligible: bool, held: int
) -> type | None:
    """Why this member cannot claim ``campaign`` now (an error class), or ``None``.

    The same order the claim applies: paused, not_started, ended, not_eligible, sold_out,
    limit_reached. The claim itself settles the last two in the database.
    """
    refusal = campaign_claim_window_refusal(campaign=campaign, now=now)
    if refusal is not None:
        return refusal
    if not eligible:
        return CampaignNotEligibleError
    if campaign.remaining_stock <= 0:
        return CampaignSoldOutError
    if held >= campaign.per_member_limit:
        return CampaignLimitReachedError
    return None


def member_eligibility_facts(*, member_id: int) -> tuple[datetime.datetime | None, frozenset[int]]:
    """``(joined_at, tag_ids)`` of a member, in one query (a row per tag)."""
    rows = list(Member.objects.filter(pk=member_id).values_list("joined_at", "tags__id"))
    joined_at = rows[0][0] if rows else None
    return joined_at, frozenset(tag_id for _, tag_id in rows if tag_id is not None)


@dataclass(frozen=True)
class CatalogueEntry:
    """A campaign on the shoppers' list, with the stores that accept it (``[{id, code, name}]``,
    empty when accepted everywhere). Shared between requests: never changed once built."""

    campaign: Campaign
    store_list: list


@dataclass(frozen=True)
class ClaimableCampaign:
    """A catalogue entry as one member sees it."""

    campaign: Campaign
    store_list: list
    held: int
    can_claim: bool
    reason: str | None


_catalogue: list = [0.0, None]  # [valid until (monotonic), list of CatalogueEntry]
_catalogue_lock = threading.Lock()


def campaign_catalogue_get(*, now: datetime.datetime) -> list[CatalogueEntry]:
    """Online campaigns whose claim window is open or opens within ``UPCOMING_DAYS``, paused
    and sold-out ones included, oldest start first, with their store lists: two queries.

    Every shopper's list is this one plus their own counts, so a process keeps it for
    ``CAMPAIGN_LIST_CACHE_SECONDS``: a new campaign, a pause or the remaining stock shows within
    that time. Claims never read it; they are settled in the database.
    """
    ttl = settings.CAMPAIGN_LIST_CACHE_SECONDS
    moment = time.monotonic()
    valid_until, entries = _catalogue
    if entries is not None and valid_until > moment:
        return entries
    campaigns = list(
        Campaign.objects.filter(
            claimable_online=True,
            claim_ends_at__gt=now,
            claim_starts_at__lte=now + datetime.timedelta(days=UPCOMING_DAYS),
        ).order_by("claim_starts_at", "pk")
    )
    # The store lists of the campaigns not accepted everywhere, in one query (none if all are):
    # cheaper than prefetch_related, which builds a related manager per campaign.
    limited = [c.pk for c in campaigns if not c.all_stores]
    store_lists = defaultdict(list)
    if limited:
        links = Campaign.stores.through.objects.filter(campaign_id__in=limited).order_by(
            "store__code"
        )
        for campaign_id, store_id, code, name in links.values_list(
            "campaign_id", "store_id", "store__code", "store__name"
        ):
            store_lists[campaign_id].append({"id": store_id, "code": code, "name": name})
    entries = [CatalogueEntry(c, store_lists.get(c.pk, [])) for c in campaigns]
    if ttl > 0:
        with _catalogue_lock:
            _catalogue[:] = [moment + ttl, entries]
    return entries


def campaign_catalogue_cache_clear() -> None:
    with _catalogue_lock:
        _catalogue[:] = [0.0, None]


def campaign_list_claimable(*, member_id: int, now: datetime.datetime) -> list[ClaimableCampaign]:
    """The campaign catalogue as this member sees it: how many they hold, whether they can
    claim and why not. Three queries whatever the number of campaigns when the catalogue is
    cached (the member's facts, their claim counters), five when it is built.
    """
    entries = campaign_catalogue_get(now=now)
    if not entries:
        return []
    joined_at, tag_ids = member_eligibility_facts(member_id=member_id)
    held_by_campaign = dict(
        MemberCampaignClaims.objects.filter(
            member_id=member_id, campaign_id__in=[entry.campaign.pk for entry in entries]
        ).values_list("campaign_id", "claimed")
    )
    claimable = []
    for entry in entries:
        campaign = entry.campaign
        held = held_by_campaign.get(campaign.pk, 0)
        eligible = campaign_member_is_eligible(
            campaign=campaign, joined_at=joined_at, tag_ids=tag_ids, now=now
        )
        refusal = campaign_claim_refusal(campaign=campaign, now=now, eligible=eligible, held=held)
        claimable.append(
            ClaimableCampaign(
                campaign=campaign,
                store_list=entry.store_list,
                held=held,
                can_claim=refusal is None,
                reason=refusal.code if refusal else None,
            )
        )
    return claimable


# --- the shopper's coupons ---------------------------------------------------------------------


def coupon_list_for_member(
    *, member_id: int, status: str | None, now: datetime.datetime
) -> QuerySet[Coupon]:
    """A member's coupons, newest first; ``status`` filters by what the shopper sees.

    A coupon past its validity is ``expired`` at once: the filter compares ``valid_until``
    with ``now`` rather than trusting a stored state.
    """
    coupons = Coupon.objects.filter(member_id=member_id)
    if status == CouponStatus.UNUSED:
        coupons = coupons.usable(now)
    elif status == CouponStatus.USED:
        coupons = coupons.used()
    elif status == CouponStatus.EXPIRED:
        coupons = coupons.expired(now)
    return coupons.select_related("campaign").order_by("-claimed_at", "-pk")


def coupon_code_for_member(
    *, member_id: int, coupon_id: int, now: datetime.datetime | None = None
) -> IssuedCode:
    """The rotating code a shopper shows at the till for one of their coupons.

    Writes nothing. Someone else's coupon is ``not_found``; a used or expired one is refused
    with that reason, since no till would accept it.
    """
    now = now or timezone.now()
    coupon = (
        Coupon.objects.filter(pk=coupon_id, member_id=member_id)
        .only("id", "status", "valid_until")
        .first()
    )
    if coupon is None:
        raise CouponNotFoundError()
    status = coupon.display_status(now)
    if status == CouponStatus.USED:
        raise CouponAlreadyRedeemedError()
    if status == CouponStatus.EXPIRED:
        raise CouponExpiredError()
    return rotating_code_issue(kind=COUPON_CODE_KIND, object_id=coupon.pk)


# --- at the till -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedemptionQuote:
    """What a coupon gives for a basket at a store, once every rule has passed."""

    coupon: Coupon
    campaign: Campaign
    order_amount_fen: int
    discount_fen: int
    gift: str | None

    @property
    def pay_fen(self) -> int:
        return self.order_amount_fen - self.discount_fen


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def coupon_evaluate(
    *, coupon: Coupon, store_id: int, order_amount_fen: int, now: datetime.datetime
) -> RedemptionQuote:
    """Apply every redemption rule to ``coupon`` (with its campaign loaded) at ``store_id``.

    Raises the first refusal in this order: already_redeemed, expired, not_started,
    wrong_store, paused, min_spend_not_met. At most one query (the store list of a campaign
    not accepted everywhere). Preview and redemption both call this.
    """
    campaign = coupon.campaign
    if coupon.status == CouponStatus.USED:
        raise CouponAlreadyRedeemedError()
    if coupon.valid_until <= now:
        raise CouponExpiredError()
    if coupon.valid_from > now:
        raise CouponNotStartedError()
    if (
        not campaign.all_stores
        and not Campaign.stores.through.objects.filter(
            campaign_id=campaign.pk, store_id=store_id
        ).exists()
    ):
        raise CouponWrongStoreError()
    if campaign.is_paused:
        raise CouponPausedError()
    if order_amount_fen < campaign.min_spend_fen:
        shortfall = campaign.min_spend_fen - order_amount_fen
        raise CouponMinSpendNotMetError(
            _("Buy %(amount)s yuan more to use this coupon.") % {"amount": _yuan(shortfall)},
            extra={"shortfall_fen": shortfall},
        )
    return RedemptionQuote(
        coupon=coupon,
        campaign=campaign,
        order_amount_fen=order_amount_fen,
        discount_fen=campaign.discount_for(order_amount_fen),
        gift=campaign.gift,
    )


def coupon_for_code(*, code: str) -> Coupon:
    """The coupon behind a scanned code, with its campaign. Raises invalid_code/code_expired."""
    coupon_id = rotating_code_verify(kind=COUPON_CODE_KIND, code=code)
    coupon = Coupon.objects.select_related("campaign").filter(pk=coupon_id).first()
    if coupon is None:
        raise InvalidCodeError()
    return coupon


def redemption_preview(
    *, store_id: int, code: str, order_amount_fen: int, now: datetime.datetime | None = None
) -> RedemptionQuote:
    """What the coupon behind ``code`` gives for this basket at ``store_id``, or why not.

    Writes nothing. Raises ``invalid_code``, ``code_expired`` and every refusal of
    ``coupon_evaluate``.
    """
    now = now or timezone.now()
    coupon = coupon_for_code(code=code)
    return coupon_evaluate(
        coupon=coupon, store_id=store_id, order_amount_fen=order_amount_fen, now=now
    )


def business_day_bounds(date: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The start and end of ``date`` in the business time zone (Asia/Shanghai)."""
    zone = timezone.get_default_timezone()
    start = datetime.datetime.combine(date, datetime.time.min, tzinfo=zone)
    return start, start + datetime.timedelta(days=1)


def redemption_list_for_store(
    *, store_id: int, date: datetime.date
) -> tuple[QuerySet[Redemption], dict]:
    """A store's redemptions of one business day, newest first, and that day's totals.

    Totals: ``count`` and ``discount_fen`` of live (not voided) redemptions, ``voided``.
    """
    start, end = business_day_bounds(date)
    redemptions = Redemption.objects.filter(
        store_id=store_id, redeemed_at__gte=start, redeemed_at__lt=end
    )
    live = Q(voided_at__isnull=True)
    totals = redemptions.aggregate(
        count=Count("pk", filter=live),
        discount_fen=Coalesce(Sum("discount_fen", filter=live), 0),
        voided=Count("pk", filter=Q(voided_at__isnull=False)),
    )
    redemptions = redemptions.select_related("campaign", "cashier").order_by("-redeemed_at", "-pk")
    return redemptions, totals


# --- figures for admin -------------------------------------------------------------------------


def _count_subquery(queryset: QuerySet) -> Coalesce:
    counted = queryset.order_by().values("campaign").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def campaign_annotate_figures(
    queryset: QuerySet[Campaign], *, store_id: int | None = None
) -> QuerySet[Campaign]:
    """Add ``claimed``, ``redeemed``, ``voided`` and ``discount_fen`` to each campaign.

    Correlated subqueries, so the figures stay right with any number of joins and the list
    costs one query. With ``store_id`` the redemption figures count that store only (what a
    store manager sees); ``claimed`` is chain-wide, claims belong to no store.
    """
    redemptions = Redemption.objects.filter(campaign=OuterRef("pk"))
    if store_id is not None:
        redemptions = redemptions.filter(store_id=store_id)
    live = redemptions.filter(voided_at__isnull=True)
    discount = (
        live.order_by().values("campaign").annotate(total=Sum("discount_fen")).values("total")
    )
    return queryset.annotate(
        claimed=F("total_stock") - F("remaining_stock"),
        redeemed=_count_subquery(live),
        voided=_count_subquery(redemptions.filter(voided_at__isnull=False)),
        discount_fen=Coalesce(Subquery(discount, output_field=IntegerField()), 0),
    )


def campaign_redemption_rate(*, claimed: int, redeemed: int) -> float | None:
    """Live redemptions per claimed coupon (0..1), or ``None`` before the first claim."""
    return redeemed / claimed if claimed else None


def campaign_store_breakdown(*, campaign_id: int, store_id: int | None = None) -> list[dict]:
    """Redemptions of a campaign per store: ``store_code``, ``store_name``, ``redeemed``,
    ``voided``, ``discount_fen``; by store code. One aggregate query."""
    redemptions = Redemption.objects.filter(campaign_id=campaign_id)
    if store_id is not None:
        redemptions = redemptions.filter(store_id=store_id)
    live = Q(voided_at__isnull=True)
    return list(
        redemptions.values("store_id")
        .annotate(
            store_code=F("store__code"),
            store_name=F("store__name"),
            redeemed=Count("pk", filter=live),
            voided=Count("pk", filter=Q(voided_at__isnull=False)),
            discount_fen=Coalesce(Sum("discount_fen", filter=live), 0),
        )
        .order_by("store_code")
    )


COUPON_EXPORT_HEADER = (
    "coupon_id",
    "campaign_id",
    "member_no",
    "status",
    "claimed_at",
    "valid_until",
    "redeemed_at",
    "store_code",
    "order_amount_fen",
    "discount_fen",
    "receipt_no",
)


def coupon_export_rows(
    *, campaign_ids: list[int], now: datetime.datetime, chunk_size: int = 2000
) -> Iterator[tuple]:
    """Every coupon of these campaigns with its live redemption, one tuple per coupon.

    Streams from the database in chunks (``iterator``) and keeps no row once yielded, so the
    memory stays flat at any number of coupons. Times are in the business time zone;
    ``status`` is what the shopper sees (expired once the validity has passed).
    """
    rows = (
        Coupon.objects.filter(campaign_id__in=campaign_ids)
        .annotate(
            live=FilteredRelation("redemptions", condition=Q(redemptions__voided_at__isnull=True))
        )
        .order_by("pk")
        .values_list(
            "pk",
            "campaign_id",
            "member__member_no",
            "status",
            "claimed_at",
            "valid_until",
            "redeemed_at",
            "live__store__code",
            "live__order_amount_fen",
            "live__discount_fen",
            "live__receipt_no",
        )
        .iterator(chunk_size=chunk_size)
    )
    for (
        pk,
        campaign_id,
        member_no,
        status,
        claimed_at,
        valid_until,
        redeemed_at,
        store_code,
        order_amount_fen,
        discount_fen,
        receipt_no,
    ) in rows:
        if status == CouponStatus.UNUSED and valid_until <= now:
            status = CouponStatus.EXPIRED
        yield (
            pk,
            campaign_id,
            member_no,
            status,
            _local_iso(claimed_at),
            _local_iso(valid_until),
            _local_iso(redeemed_at),
            store_code or "",
            "" if order_amount_fen is None else order_amount_fen,
            "" if discount_fen is None else discount_fen,
            receipt_no or "",
        )


def _local_iso(value: datetime.datetime | None) -> str:
    return "" if value is None else timezone.localtime(value).isoformat(timespec="seconds")
