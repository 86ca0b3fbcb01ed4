from django.urls import path

from members.api import accounts, location, notifications

urlpatterns = [
    path("auth/wechat/login", accounts.WeChatLoginApi.as_view(), name="auth-wechat-login"),
    path("auth/refresh", accounts.TokenRefreshApi.as_view(), name="auth-refresh"),
    path("members/me", accounts.MemberMeApi.as_view(), name="member-me"),
    path("members/me/phone", accounts.MemberPhoneBindApi.as_view(), name="member-phone"),
    path("members/me/code", accounts.MemberCodeApi.as_view(), name="member-code"),
    path(
        "members/me/location",
        location.MemberLocationRecordApi.as_view(),
        name="member-location",
    ),
    path(
        "members/me/subscriptions",
        notifications.SubscriptionListRecordApi.as_view(),
        name="member-subscriptions",
    ),
    path(
        "pos/members/identify",
        accounts.PosMemberIdentifyApi.as_view(),
        name="pos-member-identify",
    ),
]
