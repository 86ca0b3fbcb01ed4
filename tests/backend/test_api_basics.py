"""The plumbing every endpoint shares: health, readiness, schema, one error shape."""

import logging

import pytest
import yaml
from django.core.management import call_command


@pytest.mark.django_db
def test_health_answers_ok_without_a_query(api_client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = api_client.get("/api/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_answers_ok_when_database_and_cache_answer(api_client):
    response = api_client.get("/api/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_ready_names_what_is_down(api_client, monkeypatch):
    from backend import api

    def broken():
        raise ConnectionError("refused")

    monkeypatch.setitem(api.ReadyApi.checks, "broker", broken)

    response = api_client.get("/api/ready")

    assert response.status_code == 503
    assert response.json()["down"] == ["broker"]


def test_unknown_api_path_is_404_in_the_error_shape(client):
    response = client.get("/api/no-such-thing")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": response.json()["detail"]}


def test_wrong_method_is_405_in_the_error_shape(api_client):
    response = api_client.post("/api/health")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert b"/api/auth/wechat/login" in schema.content
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_schema_generates_without_a_warning(tmp_path):
    # A view whose request or answer the generator cannot see (an @extend_schema left on the
    # wrong method, say) is a warning here, dropped from the contract the app teams build on.
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))

    schema = yaml.safe_load((tmp_path / "schema.yml").read_text())
    grab = schema["paths"]["/api/deals/{deal_id}/grab"]["post"]
    assert {"201", "409", "503"} <= set(grab["responses"])


@pytest.mark.django_db
def test_a_json_body_that_is_not_an_object_is_400_in_the_error_shape(api_client):
    response = api_client.post("/api/auth/wechat/login", [None, None], format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize(("status", "logged"), [(500, True), (503, False)])
def test_django_request_logs_a_500_but_not_a_503_whose_cause_was_logged(status, logged):
    # A 503 (WeChat Pay or a backing service down) is logged where it happens; a refused grab
    # must not add an ERROR line of its own, thousands a second while WeChat Pay is out.
    logger = logging.getLogger("django.request")
    record = logger.makeRecord(
        logger.name,
        logging.ERROR,
        __file__,
        1,
        "%s: %s",
        ("Error", "/api/deals/1/grab"),
        None,
        extra={"status_code": status},
    )
    assert bool(logger.filter(record)) is logged
