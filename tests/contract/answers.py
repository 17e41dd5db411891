"""Reading a service's OpenAPI document as a contract on its answers: the documented JSON schema of an operation's
answer, what in a schema leaves a value undescribed, and whether a real answer validates against its schema
(JSON Schema 2020-12, as OpenAPI 3.1 documents are written, formats checked; jsonschema_rs comes with schemathesis).
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs

JSON = "application/json"


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def answer_schema(document: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any] | None:
    """The documented JSON schema of an operation's answer with `status` (None: no JSON answer documented)."""
    response = document["paths"][path][method.lower()]["responses"].get(str(status), {})
    schema: dict[str, Any] | None = response.get("content", {}).get(JSON, {}).get("schema")
    return schema


def undescribed(document: dict[str, Any], schema: dict[str, Any], at: str, seen: set[str] | None = None) -> list[str]:
    """Where a schema leaves a value undescribed: no schema at all (`{}`), or an object that names no property and
    types no additional one (what FastAPI writes for `dict[str, Any]`)."""
    seen = set() if seen is None else seen
    ref = schema.get("$ref")
    if ref is not None:
        if ref in seen:
            return []
        seen.add(ref)
        return undescribed(document, resolve(document, schema), f"{at}<{ref.rsplit('/', 1)[-1]}>", seen)
    branches = [b for key in ("anyOf", "oneOf", "allOf") for b in schema.get(key, [])]
    if branches:
        return [w for i, b in enumerate(branches) for w in undescribed(document, b, f"{at}|{i}", seen)]
    if not any(key in schema for key in ("type", "enum", "const")):
        return [at]
    found = []
    if schema.get("type") == "object":
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        if not properties and not (isinstance(extra, dict) and extra):
            found.append(at)
        for name, prop in properties.items():
            found += undescribed(document, prop, f"{at}.{name}", seen)
        if isinstance(extra, dict) and extra:
            found += undescribed(document, extra, f"{at}.*", seen)
    if schema.get("type") == "array":
        found += undescribed(document, schema.get("items", {}), f"{at}[]", seen)
    return found


def schema_errors(document: dict[str, Any], schema: dict[str, Any], body: Any) -> list[str]:
    """How `body` fails the documented `schema` (references resolved in the document's components)."""
    validator = jsonschema_rs.Draft202012Validator(
        {**schema, "components": document.get("components", {})}, validate_formats=True
    )
    return [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(body)]
