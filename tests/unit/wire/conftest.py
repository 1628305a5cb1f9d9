"""Fixtures of the wire tests: Alpaca's OpenAPI spec, loaded once, with a schema validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from wire_payloads import SchemaErrors


@pytest.fixture(scope="session")
def trading_spec(trading_spec_path: Path) -> dict[str, Any]:
    """Alpaca's Trading API OpenAPI 3.0 document."""
    spec: dict[str, Any] = json.loads(trading_spec_path.read_text(encoding="utf-8"))
    return spec


@pytest.fixture(scope="session")
def schema_errors(trading_spec: dict[str, Any]) -> SchemaErrors:
    """Validate a document against a spec schema (``$ref``s resolved against the spec's
    components, OpenAPI 3.0 semantics, formats checked); return the (path, keyword) of each
    violation."""

    def errors(schema: dict[str, Any], document: Any) -> set[tuple[tuple[str | int, ...], str]]:
        rooted = {**schema, "components": trading_spec["components"]}
        validator = OAS30Validator(rooted, format_checker=oas30_format_checker)
        return {
            (tuple(error.absolute_path), str(error.validator))
            for error in validator.iter_errors(document)
        }

    return errors
