"""What a sandbox handler answers, independent of the HTTP plumbing."""

import json
from dataclasses import dataclass, field


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(data, status: int = 200) -> Response:
    return Response(status=status, body=json.dumps(data, ensure_ascii=False).encode("utf-8"))


def wechat_error(errcode: int, errmsg: str) -> Response:
    """WeChat's mini-program API answers its errors with HTTP 200 and an errcode."""
    return json_response({"errcode": errcode, "errmsg": errmsg})


def xml_response(xml: str, status: int = 200) -> Response:
    return Response(status=status, body=xml.encode("utf-8"), content_type="text/xml; charset=utf-8")
