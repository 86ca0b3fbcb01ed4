"""Pages served to browsers (the cashier page), outside the JSON API."""

from django.urls import path

from stores import web

urlpatterns = [
    path("pos/", web.pos_page, name="pos-page"),
]
