"""Fixtures for the members tests."""

import pytest

from backend import wechat


class FakeWeChat:
    """Stands in for the WeChat gateway's subscribe-message call: records what was sent and
    raises the errors queued with ``fault``, one per call, in order."""

    def __init__(self):
        self.sent = []
        self.faults = []
        self.calls = 0

    def fault(self, exc, count=1):
        self.faults.extend([exc] * count)

    def messages(self, touser=None):
        return [m for m in self.sent if touser is None or m["touser"] == touser]

    def __call__(self, *, openid, template_id, data, page=None):
        self.calls += 1
        if self.faults:
            raise self.faults.pop(0)
        self.sent.append({"touser": openid, "template_id": template_id, "data": data, "page": page})


@pytest.fixture
def fake_wechat(monkeypatch):
    fake = FakeWeChat()
    monkeypatch.setattr(wechat, "wechat_subscribe_message_send", fake)
    return fake
