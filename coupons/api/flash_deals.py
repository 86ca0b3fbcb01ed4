"""Shopper API of flash deals, and WeChat Pay's payment callback.

The grab view is the hot path: the member id comes from the token (no query), the answer is
built by hand (no serializer), and refusals are answered by the service's domain errors.
"""

import logging

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from backend import wechat
from backend.exceptions import ApplicationError
from coupons.selectors import flash_deals as flash_deal_selectors
from coupons.services import flash_deals as flash_deal_services

logger = logging.getLogger(__name__)

_datetime = serializers.DateTimeField()


def _when(value):
    return None if value is None else _datetime.to_representation(value)


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR") or "127.0.0.1"


class CouponBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    campaign_id = serializers.IntegerField()
    name = serializers.CharField(source="campaign.name")
    kind = serializers.CharField(source="campaign.kind")
    gift_description = serializers.CharField(source="campaign.gift_description")
    status = serializers.CharField()
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()


def _coupon_brief(coupon):
    return None if coupon is None else CouponBriefSerializer(coupon).data


GrabOutput = inline_serializer(
    "DealGrab",
    fields={
        "order_no": serializers.CharField(),
        "status": serializers.ChoiceField(choices=["awaiting_payment", "paid"]),
        "pay_params": serializers.DictField(
            allow_null=True,
            help_text="appId, timeStamp, nonceStr, package, signType, paySign for "
            "wx.requestPayment; null for a free deal.",
        ),
        "expires_at": serializers.DateTimeField(),
        "coupon": CouponBriefSerializer(allow_null=True),
    },
)

ErrorOutput = inline_serializer(
    "DealError", fields={"code": serializers.CharField(), "detail": serializers.CharField()}
)


class DealListApi(APIView):
    """Live and upcoming deals, with what this member may do."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="deal.id")
        title = serializers.CharField(source="deal.title")
        image_url = serializers.CharField(source="deal.image_url")
        price_fen = serializers.IntegerField(source="deal.price_fen")
        starts_at = serializers.DateTimeField(source="deal.starts_at")
        ends_at = serializers.DateTimeField(source="deal.ends_at")
        total_stock = serializers.IntegerField(source="deal.total_stock")
        remaining_stock = serializers.IntegerField(source="deal.remaining_stock")
        per_member_limit = serializers.IntegerField(source="deal.per_member_limit")
        requires_phone = serializers.BooleanField(source="deal.requires_phone")
        my_count = serializers.IntegerField()
        can_grab = serializers.BooleanField()
        reason = serializers.CharField(
            allow_null=True,
            help_text="Why not, when can_grab is false: paused, not_started, ended, "
            "phone_required, not_eligible, limit_reached, sold_out.",
        )
        reminded = serializers.BooleanField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        deals = flash_deal_selectors.deal_list_for_member(
            member_id=request.user.id, now=timezone.now()
        )
        return Response(self.OutputSerializer(deals, many=True).data)


class DealGrabApi(APIView):
    """Grab one unit of a deal: 201 with the order and WeChat Pay's parameters."""

    def initial(self, request, *args, **kwargs):
        # Paused, not started, ended and sold out are the same answer for everyone: decided
        # before the token is read, so the crowd pressing "grab" after the stock is gone costs
        # little more than a health check.
        flash_deal_services.deal_grab_precheck(deal_id=kwargs["deal_id"], now=timezone.now())
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request=None,
        responses={
            201: GrabOutput,
            403: OpenApiResponse(ErrorOutput, description="phone_required, not_eligible"),
            404: OpenApiResponse(ErrorOutput, description="not_found"),
            409: OpenApiResponse(
                ErrorOutput, description="sold_out, limit_reached, not_started, ended, paused"
            ),
            503: OpenApiResponse(ErrorOutput, description="wechat_unavailable"),
        },
    )
    def post(self, request, deal_id):
        order = flash_deal_services.deal_grab(
            member_id=request.user.id, deal_id=deal_id, client_ip=_client_ip(request)
        )
        body = {
            "order_no": order.order_no,
            "status": order.status,
            "pay_params": order.pay_params,
            "expires_at": _when(order.expires_at),
        }
        if order.coupon_id is not None:
            body["coupon"] = _coupon_brief(order.coupon)
        return Response(body, status=status.HTTP_201_CREATED)


class FlashOrderDetailApi(APIView):
    """One of the member's orders and, once paid, its coupon."""

    class OutputSerializer(serializers.Serializer):
        order_no = serializers.CharField()
        deal_id = serializers.IntegerField()
        deal_title = serializers.CharField(source="deal.title")
        status = serializers.CharField()
        price_fen = serializers.IntegerField()
        created_at = serializers.DateTimeField()
        expires_at = serializers.DateTimeField()
        paid_at = serializers.DateTimeField(allow_null=True)
        cancelled_at = serializers.DateTimeField(allow_null=True)
        refunded_at = serializers.DateTimeField(allow_null=True)
        coupon = CouponBriefSerializer(allow_null=True)

    @extend_schema(responses={200: OutputSerializer, 404: ErrorOutput})
    def get(self, request, order_no):
        order = flash_deal_selectors.flash_order_get_for_member(
            member_id=request.user.id, order_no=order_no
        )
        return Response(self.OutputSerializer(order).data)


class DealRemindApi(APIView):
    """Remind me when this deal starts. 201 the first time, 200 after: idempotent."""

    class OutputSerializer(serializers.Serializer):
        deal_id = serializers.IntegerField()
        created_at = serializers.DateTimeField()

    @extend_schema(request=None, responses={200: OutputSerializer, 201: OutputSerializer})
    def post(self, request, deal_id):
        reminder, created = flash_deal_services.deal_remind(
            member_id=request.user.id, deal_id=deal_id
        )
        return Response(
            self.OutputSerializer(reminder).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class WeChatPayNotifyApi(APIView):
    """WeChat Pay's payment callback (API v2 XML). Answers SUCCESS once the payment is recorded.

    A notice that fails verification or does not match its order is logged and answered FAIL
    without changing anything; WeChat then retries, and a real payment lost this way is still
    found by the sweep's order query.
    """

    authentication_classes = ()
    permission_classes = ()
    parser_classes = ()

    @extend_schema(request=None, responses={(200, "text/xml"): str})
    def post(self, request):
        try:
            notice = wechat.wechat_pay_notification_parse(request.body)
        except ApplicationError as error:
            logger.warning("WeChat Pay notice refused: %s", error)
            return self._reply(success=False, message="invalid notice")
        if not notice.get("paid"):
            logger.info("WeChat Pay notice of a failed payment: %s", notice.get("out_trade_no"))
            return self._reply(success=True)
        try:
            flash_deal_services.flash_order_payment_record(
                order_no=str(notice.get("out_trade_no") or ""),
                transaction_id=str(notice.get("transaction_id") or ""),
                total_fee=int(notice.get("total_fee")),
                now=notice.get("paid_at"),
            )
        except (ApplicationError, TypeError, ValueError) as error:
            logger.error(
                "WeChat Pay notice for %s not recorded: %s", notice.get("out_trade_no"), error
            )
            return self._reply(success=False, message="order mismatch")
        return self._reply(success=True)

    @staticmethod
    def _reply(*, success, message="OK"):
        body = wechat.wechat_pay_notification_reply(success=success, message=message)
        return HttpResponse(body, content_type="text/xml")
