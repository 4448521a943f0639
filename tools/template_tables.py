"""What the tests and the local run read out of ``template.yaml``, so they cannot drift from it.

- :func:`table_definitions`: each DynamoDB table as ``create_table`` keyword arguments;
- :func:`ttl_attributes`: each table's time-to-live attribute;
- :func:`resource_names`: the logical ids of the buckets, tables, topics, queues and schedule groups.

A developer tool (PyYAML is a dev dependency): nothing in the Lambda layers imports it.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

_KINDS = {
    "AWS::S3::Bucket": "buckets",
    "AWS::DynamoDB::Table": "tables",
    "AWS::SNS::Topic": "topics",
    "AWS::SQS::Queue": "queues",
    "AWS::Scheduler::ScheduleGroup": "schedule_groups",
}
_CREATE_TABLE_KEYS = ("KeySchema", "AttributeDefinitions", "BillingMode")
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection")


class TemplateError(ValueError):
    """template.yaml does not have the shape this module reads."""


@functools.cache
def _loader() -> type:
    """A yaml.SafeLoader that reads CloudFormation short tags as their long form."""

    class CloudFormationLoader(yaml.SafeLoader):
        pass

    def short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        elif isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        else:  # pragma: no cover - PyYAML has no other node kinds
            raise TemplateError(f"unexpected node for !{suffix}")
        if suffix in ("Ref", "Condition"):
            return {suffix: value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{suffix}": value}

    CloudFormationLoader.add_multi_constructor("!", short_tag)
    return CloudFormationLoader


def load_template(template_path: str | Path) -> dict[str, Any]:
    """The template as plain data; ``!Ref X`` becomes ``{"Ref": "X"}``, ``!Sub s`` ``{"Fn::Sub": s}``."""
    text = Path(template_path).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=_loader())  # a SafeLoader subclass: no arbitrary objects
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{template_path}: no Resources section")
    return data


def _resources(template_path: str | Path, resource_type: str) -> dict[str, Mapping[str, Any]]:
    resources = load_template(template_path)["Resources"]
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in resources.items()
        if resource.get("Type") == resource_type
    }


def _literal(value: Any, where: str) -> Any:
    """``value`` unchanged, unless it holds an intrinsic function (unknown before deploy)."""
    if isinstance(value, dict):
        if any(key == "Ref" or key.startswith("Fn::") for key in value):
            raise TemplateError(f"{where} uses an intrinsic function; create_table needs a literal")
        return {key: _literal(item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_literal(item, where) for item in value]
    return value


def table_definitions(template_path: str | Path) -> dict[str, dict[str, Any]]:
    """Logical id -> ``create_table`` keyword arguments (without ``TableName``).

    KeySchema, AttributeDefinitions, BillingMode and, when the table has any,
    GlobalSecondaryIndexes (IndexName, KeySchema, Projection), copied from the template.
    """
    definitions: dict[str, dict[str, Any]] = {}
    for logical_id, props in _resources(template_path, "AWS::DynamoDB::Table").items():
        missing = [key for key in _CREATE_TABLE_KEYS if key not in props]
        if missing:
            raise TemplateError(f"{logical_id}: missing {', '.join(missing)}")
        kwargs = {key: _literal(copy.deepcopy(props[key]), logical_id) for key in _CREATE_TABLE_KEYS}
        indexes = props.get("GlobalSecondaryIndexes")
        if indexes:
            kwargs["GlobalSecondaryIndexes"] = [
                {key: _literal(copy.deepcopy(index[key]), logical_id) for key in _INDEX_KEYS}
                for index in indexes
            ]
        definitions[logical_id] = kwargs
    return definitions


def ttl_attributes(template_path: str | Path) -> dict[str, str]:
    """Logical id -> time-to-live attribute, for the tables whose TTL is enabled."""
    found: dict[str, str] = {}
    for logical_id, props in _resources(template_path, "AWS::DynamoDB::Table").items():
        spec = props.get("TimeToLiveSpecification") or {}
        if spec.get("Enabled") is True and isinstance(spec.get("AttributeName"), str):
            found[logical_id] = spec["AttributeName"]
    return found


def resource_names(template_path: str | Path) -> dict[str, list[str]]:
    """Logical ids by kind: ``buckets``, ``tables``, ``topics``, ``queues``, ``schedule_groups``.

    Each list follows the template's order; a kind absent from the template is an empty list.
    """
    names: dict[str, list[str]] = {kind: [] for kind in _KINDS.values()}
    for logical_id, resource in load_template(template_path)["Resources"].items():
        kind = _KINDS.get(resource.get("Type", ""))
        if kind is not None:
            names[kind].append(logical_id)
    return names


def global_environment(template_path: str | Path) -> dict[str, str]:
    """The literal (string) variables of ``Globals.Function.Environment``: what every function's
    process starts with, for a benchmark that runs a handler in a process of its own."""
    variables = load_template(template_path).get("Globals", {}).get("Function", {})
    variables = variables.get("Environment", {}).get("Variables", {})
    return {name: value for name, value in variables.items() if isinstance(value, str) and value}
