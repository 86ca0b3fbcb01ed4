"""Coupon endpoints: shoppers list, claim and show coupons; cashiers preview, redeem and void.

Views are thin: validate the input, call one service or selector, shape the answer. The hot
paths (claim, redeem, the campaign list) build their answers as plain dicts from rows already
loaded, with the ``OutputSerializer`` describing the same shape for the OpenAPI schema.
"""

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.pagination import LimitOffsetPagination
from coupons.exceptions import IdempotencyKeyInvalidError, IdempotencyKeyRequiredError
from coupons.models import Campaign, CampaignKind, Coupon, CouponStatus, Redemption
from coupons.selectors.coupons import (
    ClaimableCampaign,
    RedemptionQuote,
    campaign_list_claimable,
    coupon_code_for_member,
    coupon_list_for_member,
    redemption_list_for_store,
    redemption_preview,
)
from coupons.services.coupons import coupon_claim, redemption_create, redemption_void
from stores.authentication import PosApiMixin

IDEMPOTENCY_KEY_MAX_LENGTH = 64

_datetime_field = serializers.DateTimeField()


def _datetime(value):
    """The same text a ``DateTimeField`` gives (business time zone, ISO 8601)."""
    return None if value is None else _datetime_field.to_representation(value)


class ErrorSerializer(serializers.Serializer):
    """Every refusal: ``{"code", "detail"}``; validation errors add ``fields``."""

    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(required=False)
    shortfall_fen = serializers.IntegerField(
        required=False, help_text="min_spend_not_met only: how much more the basket needs."
    )

    class Meta:
        ref_name = "CouponsError"


def _errors(*statuses):
    return dict.fromkeys(statuses, ErrorSerializer)


class CampaignSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=CampaignKind.choices)
    amount_off_fen = serializers.IntegerField(allow_null=True)
    percent_off = serializers.IntegerField(allow_null=True)
    max_discount_fen = serializers.IntegerField(allow_null=True)
    min_spend_fen = serializers.IntegerField()
    gift = serializers.CharField(allow_null=True)


def _campaign_summary(campaign: Campaign) -> dict:
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "kind": campaign.kind,
        "amount_off_fen": campaign.amount_off_fen,
        "percent_off": campaign.percent_off,
        "max_discount_fen": campaign.max_discount_fen,
        "min_spend_fen": campaign.min_spend_fen,
        "gift": campaign.gift,
    }


class CouponSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    campaign = CampaignSummarySerializer()
    status = serializers.ChoiceField(choices=CouponStatus.choices)
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    claimed_at = serializers.DateTimeField()
    redeemed_at = serializers.DateTimeField(allow_null=True)


def _coupon(coupon: Coupon, now) -> dict:
    return {
        "id": coupon.pk,
        "campaign": _campaign_summary(coupon.campaign),
        "status": coupon.display_status(now),
        "valid_from": _datetime(coupon.valid_from),
        "valid_until": _datetime(coupon.valid_until),
        "claimed_at": _datetime(coupon.claimed_at),
        "redeemed_at": _datetime(coupon.redeemed_at),
    }


# --- shopper -----------------------------------------------------------------------------------


class CampaignListApi(APIView):
    class OutputSerializer(CampaignSummarySerializer):
        description = serializers.CharField()
        claim_starts_at = serializers.DateTimeField()
        claim_ends_at = serializers.DateTimeField()
        valid_from = serializers.DateTimeField(allow_null=True)
        valid_until = serializers.DateTimeField(allow_null=True)
        valid_days = serializers.IntegerField(allow_null=True)
        all_stores = serializers.BooleanField()
        stores = inline_serializer(
            "CampaignStore",
            fields={
                "id": serializers.IntegerField(),
                "code": serializers.CharField(),
                "name": serializers.CharField(),
            },
            many=True,
        )
        total_stock = serializers.IntegerField()
        remaining_stock = serializers.IntegerField()
        per_member_limit = serializers.IntegerField()
        held = serializers.IntegerField(help_text="How many of these the member has claimed.")
        can_claim = serializers.BooleanField()
        reason = serializers.ChoiceField(
            choices=["sold_out", "limit_reached", "not_eligible", "not_started", "ended", "paused"],
            allow_null=True,
        )

        class Meta:
            ref_name = "ClaimableCampaign"

    @extend_schema(
        summary="Campaigns the member can claim now or within 7 days",
        responses={200: OutputSerializer(many=True), **_errors(401, 403)},
    )
    def get(self, request):
        campaigns = campaign_list_claimable(member_id=request.user.id, now=timezone.now())
        return Response([self._campaign(campaign) for campaign in campaigns])

    @staticmethod
    def _campaign(claimable: ClaimableCampaign) -> dict:
        campaign = claimable.campaign
        return {
            **_campaign_summary(campaign),
            "description": campaign.description,
            "claim_starts_at": _datetime(campaign.claim_starts_at),
            "claim_ends_at": _datetime(campaign.claim_ends_at),
            "valid_from": _datetime(campaign.valid_from),
            "valid_until": _datetime(campaign.valid_until),
            "valid_days": campaign.valid_days,
            "all_stores": campaign.all_stores,
            "stores": claimable.store_list,
            "total_stock": campaign.total_stock,
            "remaining_stock": campaign.remaining_stock,
            "per_member_limit": campaign.per_member_limit,
            "held": claimable.held,
            "can_claim": claimable.can_claim,
            "reason": claimable.reason,
        }


class CouponClaimApi(APIView):
    """Claim one coupon. Campaigns not claimable in the mini-program (a flash deal's voucher)
    answer 404 like an unknown one."""

    @extend_schema(
        summary="Claim a coupon",
        request=None,
        responses={201: CouponSerializer, **_errors(401, 403, 404, 409)},
    )
    def post(self, request, campaign_id):
        now = timezone.now()
        coupon = coupon_claim(member_id=request.user.id, campaign_id=campaign_id, now=now)
        return Response(_coupon(coupon, now), status=status.HTTP_201_CREATED)


class CouponMineListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=CouponStatus.choices, required=False)

    @extend_schema(
        summary="The member's coupons, newest first",
        parameters=[
            OpenApiParameter("status", enum=CouponStatus.values, required=False),
            OpenApiParameter("limit", int, required=False),
            OpenApiParameter("offset", int, required=False),
        ],
        responses={
            200: inline_serializer(
                "PaginatedCouponList",
                fields={
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": CouponSerializer(many=True),
                },
            ),
            **_errors(400, 401, 403),
        },
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        now = timezone.now()
        coupons = coupon_list_for_member(
            member_id=request.user.id, status=filters.validated_data.get("status"), now=now
        )
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(coupons, request, view=self)
        return paginator.get_paginated_response([_coupon(coupon, now) for coupon in page])


class CouponCodeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        code = serializers.CharField()
        expires_in = serializers.IntegerField(help_text="Seconds this code is still accepted.")

        class Meta:
            ref_name = "CouponCode"

    @extend_schema(
        summary="The coupon's short-lived redemption code",
        responses={200: OutputSerializer, **_errors(401, 403, 404, 409)},
    )
    def get(self, request, coupon_id):
        issued = coupon_code_for_member(member_id=request.user.id, coupon_id=coupon_id)
        return Response({"code": issued.code, "expires_in": issued.expires_in})


# --- cashier (POS) -----------------------------------------------------------------------------


class RedemptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    coupon_id = serializers.IntegerField()
    campaign = CampaignSummarySerializer()
    store_id = serializers.IntegerField()
    cashier_id = serializers.IntegerField()
    redeemed_at = serializers.DateTimeField()
    order_amount_fen = serializers.IntegerField()
    discount_fen = serializers.IntegerField()
    pay_fen = serializers.IntegerField()
    gift = serializers.CharField(allow_null=True)
    receipt_no = serializers.CharField()


def _redemption(redemption: Redemption) -> dict:
    """The redemption as created; a replay builds the very same body from the stored row."""
    return {
        "id": redemption.pk,
        "coupon_id": redemption.coupon_id,
        "campaign": _campaign_summary(redemption.campaign),
        "store_id": redemption.store_id,
        "cashier_id": redemption.cashier_id,
        "redeemed_at": _datetime(redemption.redeemed_at),
        "order_amount_fen": redemption.order_amount_fen,
        "discount_fen": redemption.discount_fen,
        "pay_fen": redemption.pay_fen,
        "gift": redemption.campaign.gift,
        "receipt_no": redemption.receipt_no,
    }


class RedemptionRecordSerializer(RedemptionSerializer):
    cashier_username = serializers.CharField()
    voided_at = serializers.DateTimeField(allow_null=True)
    voided_by_id = serializers.IntegerField(allow_null=True)
    void_reason = serializers.CharField()


def _redemption_record(redemption: Redemption, cashier_username: str) -> dict:
    return {
        **_redemption(redemption),
        "cashier_username": cashier_username,
        "voided_at": _datetime(redemption.voided_at),
        "voided_by_id": redemption.voided_by_id,
        "void_reason": redemption.void_reason,
    }


class _CodeAndBasketSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64)
    order_amount_fen = serializers.IntegerField(min_value=0, max_value=2_000_000_000)


class RedemptionPreviewApi(PosApiMixin, APIView):
    class InputSerializer(_CodeAndBasketSerializer):
        class Meta:
            ref_name = "RedemptionPreviewInput"

    class OutputSerializer(serializers.Serializer):
        coupon = inline_serializer(
            "PreviewCoupon",
            fields={
                "id": serializers.IntegerField(),
                "valid_from": serializers.DateTimeField(),
                "valid_until": serializers.DateTimeField(),
            },
        )
        campaign = CampaignSummarySerializer()
        discount_fen = serializers.IntegerField()
        pay_fen = serializers.IntegerField()
        gift = serializers.CharField(allow_null=True)

        class Meta:
            ref_name = "RedemptionPreview"

    @extend_schema(
        summary="What the coupon gives for this basket, or why not",
        request=InputSerializer,
        responses={200: OutputSerializer, **_errors(400, 401, 403, 409)},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        quote: RedemptionQuote = redemption_preview(
            store_id=request.user.store_id, **data.validated_data
        )
        coupon = quote.coupon
        return Response(
            {
                "coupon": {
                    "id": coupon.pk,
                    "valid_from": _datetime(coupon.valid_from),
                    "valid_until": _datetime(coupon.valid_until),
                },
                "campaign": _campaign_summary(quote.campaign),
                "discount_fen": quote.discount_fen,
                "pay_fen": quote.pay_fen,
                "gift": quote.gift,
            }
        )


def _idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise IdempotencyKeyRequiredError()
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise IdempotencyKeyInvalidError()
    return key


class RedemptionListCreateApi(PosApiMixin, APIView):
    """``POST``: redeem (idempotent per Idempotency-Key); ``GET``: the store's day."""

    class InputSerializer(_CodeAndBasketSerializer):
        receipt_no = serializers.CharField(max_length=64)

        class Meta:
            ref_name = "RedemptionCreateInput"

    class FilterSerializer(serializers.Serializer):
        date = serializers.DateField(required=False)

    @extend_schema(
        summary="Redeem the coupon behind a code",
        description=(
            "The same Idempotency-Key with the same body answers 201 with the first "
            "redemption again; with another body 409 `idempotency_key_reused`."
        ),
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="At most 64 characters, unique per redemption attempt.",
            )
        ],
        request=InputSerializer,
        responses={201: RedemptionSerializer, **_errors(400, 401, 403, 409)},
    )
    def post(self, request):
        key = _idempotency_key(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        redemption, _replayed = redemption_create(
            staff=request.user, idempotency_key=key, **data.validated_data
        )
        return Response(_redemption(redemption), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="This store's redemptions of a day, with the day's totals",
        parameters=[
            OpenApiParameter(
                "date",
                OpenApiTypes.DATE,
                required=False,
                description="YYYY-MM-DD; default today (Asia/Shanghai).",
            ),
            OpenApiParameter("limit", int, required=False),
            OpenApiParameter("offset", int, required=False),
        ],
        responses={
            200: inline_serializer(
                "StoreRedemptionDay",
                fields={
                    "date": serializers.DateField(),
                    "totals": inline_serializer(
                        "StoreRedemptionTotals",
                        fields={
                            "count": serializers.IntegerField(),
                            "discount_fen": serializers.IntegerField(),
                            "voided": serializers.IntegerField(),
                        },
                    ),
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": RedemptionRecordSerializer(many=True),
                },
            ),
            **_errors(400, 401, 403),
        },
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        date = filters.validated_data.get("date") or timezone.localdate()
        redemptions, totals = redemption_list_for_store(store_id=request.user.store_id, date=date)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(redemptions, request, view=self)
        return Response(
            {
                "date": date.isoformat(),
                "totals": totals,
                "count": paginator.count,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": [_redemption_record(r, r.cashier.get_username()) for r in page],
            }
        )


class RedemptionVoidApi(PosApiMixin, APIView):
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=255, allow_blank=True, required=False, default="")

        class Meta:
            ref_name = "RedemptionVoidInput"

    @extend_schema(
        summary="Void a redemption of this store (within the void window)",
        request=InputSerializer,
        responses={200: RedemptionRecordSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request, redemption_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        redemption = redemption_void(
            staff=request.user, redemption_id=redemption_id, reason=data.validated_data["reason"]
        )
        redemption = Redemption.objects.select_related("campaign", "cashier").get(pk=redemption.pk)
        return Response(_redemption_record(redemption, redemption.cashier.get_username()))
