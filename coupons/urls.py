from django.urls import path

from coupons.api import coupons, flash_deals

urlpatterns = [
    # First of this app's routes: during a sale nearly every request is a grab.
    path("deals/<int:deal_id>/grab", flash_deals.DealGrabApi.as_view(), name="deal-grab"),
    path("coupons/campaigns", coupons.CampaignListApi.as_view(), name="coupon-campaigns"),
    path(
        "coupons/campaigns/<int:campaign_id>/claim",
        coupons.CouponClaimApi.as_view(),
        name="coupon-claim",
    ),
    path("coupons/mine", coupons.CouponMineListApi.as_view(), name="coupon-mine"),
    path("coupons/mine/<int:coupon_id>/code", coupons.CouponCodeApi.as_view(), name="coupon-code"),
    path(
        "pos/redemptions/preview",
        coupons.RedemptionPreviewApi.as_view(),
        name="pos-redemption-preview",
    ),
    path("pos/redemptions", coupons.RedemptionListCreateApi.as_view(), name="pos-redemptions"),
    path(
        "pos/redemptions/<int:redemption_id>/void",
        coupons.RedemptionVoidApi.as_view(),
        name="pos-redemption-void",
    ),
    path("deals", flash_deals.DealListApi.as_view(), name="deal-list"),
    path("deals/<int:deal_id>/remind", flash_deals.DealRemindApi.as_view(), name="deal-remind"),
    path(
        "deals/orders/<str:order_no>",
        flash_deals.FlashOrderDetailApi.as_view(),
        name="flash-order-detail",
    ),
    path(
        "payments/wechat/notify",
        flash_deals.WeChatPayNotifyApi.as_view(),
        name="wechat-pay-notify",
    ),
]
