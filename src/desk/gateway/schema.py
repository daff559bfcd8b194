"""``desk gateway-schema``: the gateway messages' JSON Schema, or a Markdown section of it.

Both are generated from the msgspec Structs in :mod:`desk.gateway.messages`
(``msgspec.json.schema``), so the README cannot drift from the code: regenerate the section
with ``desk gateway-schema --markdown``.
"""

from __future__ import annotations

import json
from typing import Any

from desk.gateway.messages import ROUTE_MESSAGES, SCHEMA_VERSION, message_schema


def print_schema(*, markdown: bool = False) -> int:
    print(schema_markdown() if markdown else json.dumps(message_schema(), indent=2))
    return 0


def schema_markdown() -> str:
    """The README's section on the gateway's messages: routes, then one table per struct."""
    schema = message_schema()
    defs: dict[str, Any] = schema["$defs"]
    lines = [
        f"Every message is a JSON object with `type` (the message), `v` (the schema "
        f"version, now {SCHEMA_VERSION}) and `ts`. Times are integer ns since the epoch, money "
        f"in the quote currency.",
        "",
        "| route | messages |",
        "|---|---|",
    ]
    for route, kinds in ROUTE_MESSAGES.items():
        names = ", ".join(f"`{_tag(defs[k.__name__])}`" for k in kinds)
        lines.append(f"| `{route}` | {names} |")
    for name, body in defs.items():
        tag = _tag(body)
        title = f"`{tag}` ({name})" if tag else name
        lines += ["", f"#### {title}", ""]
        if body.get("description"):
            lines += [" ".join(body["description"].split()), ""]
        if body.get("type") == "array":  # array-like structs: [a, b]
            items = [_type(item) for item in body.get("prefixItems", [])]
            lines.append(f"An array `[{', '.join(items)}]`.")
            continue
        lines += ["| field | type | required | meaning |", "|---|---|---|---|"]
        required = set(body.get("required", ()))
        for field, spec in body.get("properties", {}).items():
            if field == "type":
                continue
            need = "yes" if field in required else ""
            about = " ".join(spec.get("description", "").split()).replace("|", "\\|")
            lines.append(f"| `{field}` | {_type(spec)} | {need} | {about} |")
    return "\n".join(lines)


def _tag(body: dict[str, Any]) -> str:
    enum = body.get("properties", {}).get("type", {}).get("enum")
    return str(enum[0]) if enum else ""


def _type(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in spec:
        return " or ".join(_type(option) for option in spec["anyOf"])
    kind = spec.get("type")
    if kind == "array":
        return f"array of {_type(spec.get('items', {}))}"
    if kind == "object" and "additionalProperties" in spec:
        return f"object of {_type(spec['additionalProperties'])}"
    return str(kind or "any")


if __name__ == "__main__":
    import sys

    raise SystemExit(print_schema(markdown="--markdown" in sys.argv[1:]))
