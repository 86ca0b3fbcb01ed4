"""OpenAPI schema conventions shared by every operation."""

from drf_spectacular import openapi


class AutoSchema(openapi.AutoSchema):
    """Names a view's nested ``InputSerializer``/``OutputSerializer`` after the view.

    ``WeChatLoginApi.InputSerializer`` becomes the component ``WeChatLoginInput``, so views can
    keep the house's nested serializer names without colliding in the schema.
    """

    def get_serializer_name(self, serializer, direction):
        qualified = type(serializer).__qualname__.split(".")
        if len(qualified) >= 2:
            outer, inner = qualified[-2], qualified[-1]
            return outer.removesuffix("Api") + inner.removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)


ERROR_COMPONENT = {
    "type": "object",
    "description": "Every refusal: a stable machine-readable code and a human-readable detail.",
    "properties": {
        "code": {"type": "string", "example": "sold_out"},
        "detail": {"type": "string"},
        "fields": {
            "type": "object",
            "description": "For code `invalid`: the messages for each input field.",
            "additionalProperties": True,
        },
    },
    "required": ["code", "detail"],
    "additionalProperties": True,
}


def add_error_responses(result, generator, request, public):
    """Document the one error shape as every operation's ``default`` response."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_COMPONENT
    reference = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"].setdefault(
                "default",
                {
                    "description": "An error: see `code`.",
                    "content": {"application/json": {"schema": reference}},
                },
            )
    return result
