"""Routes for subscribe-message grants (included under ``api/`` by backend/urls.py)."""

from django.urls import path

from members.notification_api import SubscriptionListRecordApi

urlpatterns = [
    path(
        "members/me/subscriptions",
        SubscriptionListRecordApi.as_view(),
        name="member-subscriptions",
    ),
]
