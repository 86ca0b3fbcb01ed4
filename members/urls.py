from django.urls import path

from members import api

urlpatterns = [
    path("auth/wechat/login", api.WeChatLoginApi.as_view(), name="auth-wechat-login"),
    path("auth/refresh", api.TokenRefreshApi.as_view(), name="auth-refresh"),
    path("members/me", api.MemberMeApi.as_view(), name="member-me"),
    path("members/me/phone", api.MemberPhoneBindApi.as_view(), name="member-phone"),
    path("members/me/code", api.MemberCodeApi.as_view(), name="member-code"),
    path("pos/members/identify", api.PosMemberIdentifyApi.as_view(), name="pos-member-identify"),
]
