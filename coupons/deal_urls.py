from django.urls import path

from coupons import deal_api

urlpatterns = [
    path("deals", deal_api.DealListApi.as_view(), name="deal-list"),
    path("deals/<int:deal_id>/grab", deal_api.DealGrabApi.as_view(), name="deal-grab"),
    path("deals/<int:deal_id>/remind", deal_api.DealRemindApi.as_view(), name="deal-remind"),
    path(
        "deals/orders/<str:order_no>",
        deal_api.FlashOrderDetailApi.as_view(),
        name="flash-order-detail",
    ),
    path(
        "payments/wechat/notify",
        deal_api.WeChatPayNotifyApi.as_view(),
        name="wechat-pay-notify",
    ),
]
