"""The API's OpenAPI document, as FastAPI builds it with what FastAPI gets wrong for OpenAPI 3.1 put right."""

from typing import Any

from fastapi import FastAPI
from pydantic.config import JsonDict


def never_null(schema: JsonDict, names: tuple[str, ...] | None = None) -> None:
    """Document optional fields (all, or these names) of a model's JSON schema as left out or given, never null.

    For fields that are Optional in Python so that pydantic's messages name the field (not a union branch),
    while a validator refuses an explicit null.
    """
    properties = schema['properties']
    assert isinstance(properties, dict)
    for name, field in properties.items():
        options = field.get('anyOf') if isinstance(field, dict) else None
        if isinstance(field, dict) and isinstance(options, list) and (names is None or name in names):
            given = next(option for option in options if option != {'type': 'null'})
            assert isinstance(given, dict)
            properties[name] = {**given, **{k: v for k, v in field.items() if k not in ('anyOf', 'default')}}


def describe_streams(document: dict[str, Any]) -> dict[str, Any]:
    """Move FastAPI's `itemSchema` of event streams (an OpenAPI 3.2 keyword, invalid in the 3.1 document it
    writes) to `schema`: for text/event-stream, tools such as schemathesis read that as the schema of one event."""
    for operations in document.get('paths', {}).values():
        for operation in operations.values():
            for response in operation.get('responses', {}).values():
                stream = response.get('content', {}).get('text/event-stream')
                if stream is not None and 'itemSchema' in stream:
                    stream['schema'] = stream.pop('itemSchema')
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the corrected document at the app's /openapi.json (built once, at the first request)."""

    def openapi() -> dict[str, Any]:
        # FastAPI.openapi, not the app's attribute: installing twice (NiceGUI's tests run main.py again) must not
        # wrap the wrapper.
        return describe_streams(FastAPI.openapi(app))

    app.openapi = openapi  # type: ignore[method-assign]
