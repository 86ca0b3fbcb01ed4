"""Pages served to browsers (the cashier page), outside the JSON API."""

from django.urls import path  # noqa: F401

urlpatterns = []
