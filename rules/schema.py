"""The JSON Schema of policy files, for editors (autocomplete, inline errors); exported to policies/schema.json."""

from __future__ import annotations

import json
from typing import Any

from rules.policy import Policy
from rules.vocabulary import LOT_METRICS


def policy_json_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema(by_alias=True)
    # Metric names are keys of `when` and of each `any` group: let editors offer and check them.
    metric_names = {"enum": sorted(LOT_METRICS)}
    rule = schema["$defs"]["Rule"]["properties"]
    rule["when"]["propertyNames"] = metric_names
    rule["any"]["items"]["propertyNames"] = metric_names
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://stockwarden.example/policies/schema.json",
            "title": "Stockwarden policy 呆滞料治理策略", **{k: v for k, v in schema.items() if k != "title"}}


def policy_json_schema_text() -> str:
    return json.dumps(policy_json_schema(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
