"""The functions of ``template.yaml`` as a deployment would give them: handler, environment and
IAM statements, every intrinsic function resolved to a name or ARN of the right shape.

:class:`Deployment` resolves ``Ref`` (parameters, pseudo parameters, resources), ``Fn::GetAtt``,
``Fn::Sub``, ``Fn::If`` / ``Condition`` (with ``Fn::Equals``, ``Not``, ``And``, ``Or``),
``Fn::Select``, ``Fn::Split`` and ``Fn::Join``, for a stack name, account, region, partition and
parameter values. A resource's name is what CloudFormation would make of it: its name property
when the template sets one, else ``{stack}-{LogicalId}-{suffix}``; ``physical`` overrides give
the names of an existing stack (the integration tests' resources).

A ``Fn::Sub`` written exactly as a resource's name property (the config bucket's name, written
out to avoid a circular dependency) is that resource's name, so an override reaches it too.

A developer tool (PyYAML is a dev dependency): nothing in the Lambda layers imports it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.template_tables import TemplateError, load_template

FUNCTION_TYPE = "AWS::Serverless::Function"
# Set on a function by the Lambda runtime, not by the template.
RUNTIME_VARIABLES = frozenset({"AWS_REGION", "AWS_DEFAULT_REGION"})
# Resource type -> (the property naming it, what Ref returns: "name", "arn" or "url").
_NAMES = {
    "AWS::S3::Bucket": ("BucketName", "name"),
    "AWS::DynamoDB::Table": ("TableName", "name"),
    "AWS::SNS::Topic": ("TopicName", "arn"),
    "AWS::SQS::Queue": ("QueueName", "url"),
    "AWS::Scheduler::ScheduleGroup": ("Name", "name"),
    "AWS::Serverless::Function": ("FunctionName", "name"),
    "AWS::Lambda::Function": ("FunctionName", "name"),
    "AWS::Serverless::StateMachine": ("Name", "arn"),
    "AWS::IAM::Role": ("RoleName", "name"),
    "AWS::SES::ConfigurationSet": ("Name", "name"),
    "AWS::Events::Rule": ("Name", "arn"),
    "AWS::KMS::Key": ("", "id"),
    "AWS::Logs::LogGroup": ("LogGroupName", "name"),
}
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
_NO_VALUE = object()


class Unresolvable(TemplateError):
    """A value this resolver cannot give (an attribute or function it does not know)."""


@dataclass(frozen=True)
class Deployment:
    """One deployment of the template: where, under which name, with which parameter values."""

    template: Mapping[str, Any]
    stack_name: str = "tracking-export"
    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    parameters: Mapping[str, str] = field(default_factory=dict)
    # Logical id (what Ref gives) or "LogicalId.Attribute" (what GetAtt gives) -> the real value.
    physical: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, template_path: str | Path, **options: Any) -> Deployment:
        return cls(load_template(template_path), **options)

    # ------------------------------------------------------------------ functions

    @property
    def resources(self) -> Mapping[str, Any]:
        resources: Mapping[str, Any] = self.template["Resources"]
        return resources

    def functions(self) -> dict[str, str]:
        """Logical id -> handler (``module.attribute``) of every AWS::Serverless::Function."""
        return {
            logical_id: str(resource["Properties"]["Handler"])
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == FUNCTION_TYPE
        }

    def code_folder(self, function: str) -> str:
        """The function's ``CodeUri`` (a folder of the repository)."""
        return str(self._function(function)["CodeUri"])

    def environment(self, function: str) -> dict[str, str]:
        """The function's variables (Globals, then its own) as the deployment sets them; a
        variable whose value resolves to ``AWS::NoValue`` is left out."""
        declared = dict(self._globals().get("Environment", {}).get("Variables") or {})
        declared.update((self._function(function).get("Environment") or {}).get("Variables") or {})
        resolved = {}
        for variable, value in declared.items():
            found = self.resolve(value, f"{function}.Environment.{variable}")
            if found is not _NO_VALUE:
                resolved[variable] = _text(found)
        return resolved

    def _function(self, function: str) -> Mapping[str, Any]:
        resource = self.resources.get(function)
        if not resource or resource.get("Type") != FUNCTION_TYPE:
            raise TemplateError(f"template.yaml has no {FUNCTION_TYPE} {function!r}")
        properties: Mapping[str, Any] = resource.get("Properties") or {}
        return properties

    def _globals(self) -> Mapping[str, Any]:
        found: Mapping[str, Any] = (self.template.get("Globals") or {}).get("Function") or {}
        return found

    # ------------------------------------------------------------------ names

    def parameter(self, name: str) -> str:
        if name in self.parameters:
            return str(self.parameters[name])
        declared = (self.template.get("Parameters") or {}).get(name)
        if declared is None:
            raise Unresolvable(f"no parameter {name!r}")
        return _text(declared.get("Default", ""))

    def pseudo(self, name: str) -> str | object:
        values: dict[str, str | object] = {
            "AWS::StackName": self.stack_name,
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }
        if name not in values:
            raise Unresolvable(f"no pseudo parameter {name!r}")
        return values[name]

    def name(self, logical_id: str) -> str:
        """The resource's physical name (what its name property says, or CloudFormation's)."""
        resource = self.resources.get(logical_id)
        if resource is None:
            # SAM's generated resources: {Function}Role, {Function}{Event} rules…
            return f"{self.stack_name}-{logical_id}-ABCDEFGHIJ12"
        prop, _ = _NAMES.get(resource.get("Type", ""), ("", "name"))
        given = (resource.get("Properties") or {}).get(prop) if prop else None
        if isinstance(given, dict) and isinstance(given.get("Fn::Sub"), str):
            return self._substitute(given["Fn::Sub"], {}, f"{logical_id}.{prop}")
        if given is not None:
            return _text(self.resolve(given, f"{logical_id}.{prop}"))
        return f"{self.stack_name}-{logical_id}-ABCDEFGHIJ12"

    def ref(self, logical_id: str) -> str:
        if logical_id in self.physical:
            return self.physical[logical_id]
        resource_type = (self.resources.get(logical_id) or {}).get("Type", "")
        kind = _NAMES.get(resource_type, ("", "name"))[1]
        if kind == "arn":
            return self.get_att(logical_id, "Arn")
        if kind == "url":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self.name(logical_id)}"
        if kind == "id":
            return "1234abcd-12ab-34cd-56ef-1234567890ab"
        return self.name(logical_id)

    def get_att(self, logical_id: str, attribute: str) -> str:
        key = f"{logical_id}.{attribute}"
        if key in self.physical:
            return self.physical[key]
        resource_type = (self.resources.get(logical_id) or {}).get("Type", "")
        if logical_id not in self.resources and logical_id.endswith("Role"):
            resource_type = "AWS::IAM::Role"  # SAM's role of a function
        name = self.name(logical_id)
        head = f"arn:{self.partition}"
        where = f"{self.region}:{self.account}"
        if attribute in ("TopicName", "QueueName", "Name"):
            if resource_type == "AWS::SQS::Queue" and logical_id in self.physical:
                return self.physical[logical_id].rsplit("/", 1)[-1]
            return name
        if attribute != "Arn":
            raise Unresolvable(f"{key}: attribute not known to this resolver")
        arns = {
            "AWS::S3::Bucket": f"{head}:s3:::{name}",
            "AWS::DynamoDB::Table": f"{head}:dynamodb:{where}:table/{name}",
            "AWS::SNS::Topic": f"{head}:sns:{where}:{name}",
            "AWS::SQS::Queue": f"{head}:sqs:{where}:{name}",
            "AWS::Scheduler::ScheduleGroup": f"{head}:scheduler:{where}:schedule-group/{name}",
            "AWS::Serverless::Function": f"{head}:lambda:{where}:function:{name}",
            "AWS::Lambda::Function": f"{head}:lambda:{where}:function:{name}",
            "AWS::Serverless::StateMachine": f"{head}:states:{where}:stateMachine:{name}",
            "AWS::IAM::Role": f"{head}:iam::{self.account}:role/{name}",
            "AWS::Events::Rule": f"{head}:events:{where}:rule/{name}",
            "AWS::KMS::Key": f"{head}:kms:{where}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        }
        if resource_type not in arns:
            # SAM's generated EventBridge rules have no resource of their own in the template.
            if logical_id not in self.resources:
                return f"{head}:events:{where}:rule/{name}"
            raise Unresolvable(f"{key}: no ARN shape known for {resource_type or 'an unknown resource'}")
        return arns[resource_type]

    # ------------------------------------------------------------------ intrinsic functions

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions") or {}
        if name not in conditions:
            raise Unresolvable(f"no condition {name!r}")
        return bool(self.resolve(conditions[name], f"Conditions.{name}"))

    def resolve(self, value: Any, where: str = "template") -> Any:
        """``value`` with every intrinsic function evaluated (lists and mappings walked);
        ``AWS::NoValue`` drops a list item or mapping entry."""
        if isinstance(value, list):
            items = [self.resolve(item, where) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                return self._function_value(key, argument, where)
        resolved = {key: self.resolve(item, f"{where}.{key}") for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _function_value(self, key: str, argument: Any, where: str) -> Any:
        if key == "Ref":
            name = str(argument)
            if name.startswith("AWS::"):
                return self.pseudo(name)
            if name in (self.template.get("Parameters") or {}):
                return self.parameter(name)
            return self.ref(name)
        if key == "Fn::GetAtt":
            target = argument.split(".", 1) if isinstance(argument, str) else argument
            return self.get_att(str(target[0]), str(target[1]))
        if key == "Fn::Sub":
            return self._sub(argument, where)
        if key == "Condition":
            return self.condition(str(argument))
        if key == "Fn::If":
            name, if_true, if_false = argument
            return self.resolve(if_true if self.condition(name) else if_false, where)
        if key == "Fn::Equals":
            first, second = (_text(self.resolve(item, where)) for item in argument)
            return first == second
        if key == "Fn::Not":
            return not self.resolve(argument[0], where)
        if key == "Fn::And":
            return all(self.resolve(item, where) for item in argument)
        if key == "Fn::Or":
            return any(self.resolve(item, where) for item in argument)
        if key == "Fn::Select":
            index, items = argument
            return self.resolve(items, where)[int(self.resolve(index, where))]
        if key == "Fn::Split":
            separator, text = argument
            return _text(self.resolve(text, where)).split(separator)
        if key == "Fn::Join":
            separator, items = argument
            return separator.join(_text(item) for item in self.resolve(items, where))
        raise Unresolvable(f"{where}: {key} is not known to this resolver")

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, str):
            named = self._named_by(argument)
            if named is not None:
                return self.ref(named)
            return self._substitute(argument, {}, where)
        text, given = argument
        variables = {name: _text(self.resolve(item, where)) for name, item in given.items()}
        return self._substitute(text, variables, where)

    def _substitute(self, text: str, variables: Mapping[str, str], where: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return variables[name]
            if name.startswith("AWS::"):
                return _text(self.pseudo(name))
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            if name in (self.template.get("Parameters") or {}):
                return self.parameter(name)
            return self.ref(name)

        # "${!Literal}" is written out as "${Literal}".
        return _SUB_VARIABLE.sub(value, text).replace("${!", "${")

    def _named_by(self, text: str) -> str | None:
        """The resource whose name property is exactly this ``Fn::Sub`` text, if any."""
        for logical_id, resource in self.resources.items():
            prop, _ = _NAMES.get(resource.get("Type", ""), ("", "name"))
            if prop and (resource.get("Properties") or {}).get(prop) == {"Fn::Sub": text}:
                return str(logical_id)
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
