from django.urls import path

from coupons import api

urlpatterns = [
    path("coupons/campaigns", api.CampaignListApi.as_view(), name="coupon-campaigns"),
    path(
        "coupons/campaigns/<int:campaign_id>/claim",
        api.CouponClaimApi.as_view(),
        name="coupon-claim",
    ),
    path("coupons/mine", api.CouponMineListApi.as_view(), name="coupon-mine"),
    path("coupons/mine/<int:coupon_id>/code", api.CouponCodeApi.as_view(), name="coupon-code"),
    path(
        "pos/redemptions/preview",
        api.RedemptionPreviewApi.as_view(),
        name="pos-redemption-preview",
    ),
    path("pos/redemptions", api.RedemptionListCreateApi.as_view(), name="pos-redemptions"),
    path(
        "pos/redemptions/<int:redemption_id>/void",
        api.RedemptionVoidApi.as_view(),
        name="pos-redemption-void",
    ),
]
