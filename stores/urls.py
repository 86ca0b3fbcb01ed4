from django.urls import path

from stores import api

urlpatterns = [
    path("stores", api.StoreListNearbyApi.as_view(), name="store-list-nearby"),
    path("pos/auth/login", api.PosLoginApi.as_view(), name="pos-login"),
    path("pos/me", api.PosMeApi.as_view(), name="pos-me"),
]
