"""Liveness and readiness, for load balancers and as the benchmarks' baseline."""

import logging

from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.celery import app as celery_app

logger = logging.getLogger(__name__)


class HealthApi(APIView):
    """The process is up. No database query: this is the cheapest request the API answers."""

    authentication_classes = ()
    permission_classes = ()

    @extend_schema(
        responses=inline_serializer("Health", fields={"status": serializers.CharField()}),
    )
    def get(self, request):
        return Response({"status": "ok"})


def _database_ready():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache_ready():
    cache.set("ready-probe", "1", timeout=5)
    if cache.get("ready-probe") != "1":
        raise RuntimeError("cache did not keep a value")


def _broker_ready():
    if celery_app.conf.task_always_eager:
        return
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


class ReadyApi(APIView):
    """The database, the cache and the Celery broker all answer; 503 names what does not."""

    authentication_classes = ()
    permission_classes = ()
    checks = {"database": _database_ready, "cache": _cache_ready, "broker": _broker_ready}

    @extend_schema(
        responses={
            200: inline_serializer(
                "Ready",
                fields={
                    "status": serializers.CharField(),
                    "down": serializers.ListField(child=serializers.CharField()),
                },
            ),
            503: inline_serializer(
                "NotReady",
                fields={
                    "code": serializers.CharField(),
                    "detail": serializers.CharField(),
                    "down": serializers.ListField(child=serializers.CharField()),
                },
            ),
        },
    )
    def get(self, request):
        down = []
        for name, check in self.checks.items():
            try:
                check()
            except Exception:
                logger.warning("readiness check %s failed", name, exc_info=True)
                down.append(name)
        if down:
            return Response(
                {"code": "not_ready", "detail": f"down: {', '.join(down)}", "down": down},
                status=503,
            )
        return Response({"status": "ok", "down": []})
