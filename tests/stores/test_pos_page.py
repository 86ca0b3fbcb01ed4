"""The cashier page as served: one HTML page, its own static files, nothing from elsewhere."""

import re
from datetime import timedelta

from django.contrib.staticfiles import finders
from django.test import override_settings
from django.urls import reverse

PAGE = "/pos/"


def _static_text(path: str) -> str:
    with open(finders.find(path), encoding="utf-8") as file:
        return file.read()


def _asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


def test_pos_page_is_served_in_chinese_with_its_script_and_styles(client):
    response = client.get(PAGE)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert '<html lang="zh-CN">' in html
    assert "收银员登录" in html
    assert 'id="scan"' in html
    assert "/static/stores/pos.js" in html
    assert "/static/stores/pos.css" in html
    assert reverse("pos-page") == PAGE


def test_pos_page_static_files_exist(client):
    html = client.get(PAGE).content.decode()

    static_paths = [url for url in _asset_urls(html) if url.startswith("/static/")]

    assert sorted(static_paths) == ["/static/stores/pos.css", "/static/stores/pos.js"]
    for url in static_paths:
        assert finders.find(url.removeprefix("/static/")) is not None, url


def test_pos_page_loads_nothing_from_another_host(client):
    html = client.get(PAGE).content.decode()
    script = _static_text("stores/pos.js")
    styles = _static_text("stores/pos.css")

    for url in _asset_urls(html):
        assert (url.startswith("/") and not url.startswith("//")) or url == "data:,", url
    for text in (html, script, styles):
        assert not re.search(r"https?://|//cdn|@import", text)


@override_settings(COUPON_VOID_WINDOW=timedelta(hours=2), TIME_ZONE="Asia/Shanghai")
def test_pos_page_tells_the_script_the_void_window_and_business_time_zone(client):
    html = client.get(PAGE).content.decode()

    assert 'data-void-window-seconds="7200"' in html
    assert 'data-time-zone="Asia/Shanghai"' in html


def test_pos_page_keeps_the_token_in_the_tab_only():
    script = _static_text("stores/pos.js")

    assert "sessionStorage" in script
    assert not re.search(r"localStorage\s*[.\[]", script)
    assert "document.cookie" not in script


def test_pos_page_answers_only_get(client):
    assert client.post(PAGE).status_code == 405
