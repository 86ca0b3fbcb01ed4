from django.urls import path

from members import location_api

urlpatterns = [
    path(
        "members/me/location",
        location_api.MemberLocationRecordApi.as_view(),
        name="member-location",
    ),
]
