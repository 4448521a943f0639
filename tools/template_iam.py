"""Which AWS calls a function's IAM statements in template.yaml allow: a small evaluator.

:func:`requests` turns one recorded SDK call (service, operation, parameters, answer) into the
IAM requests AWS authorises for it (action, resource ARN, condition keys): a HeadObject is
``s3:GetObject`` on the object, a ListObjectsV2 ``s3:ListBucket`` on the bucket with
``s3:prefix``, a BatchWriteItem one request per table, a CreateSchedule also ``iam:PassRole``.
An S3 read answered "absent" (404) also needs ``s3:ListBucket`` on the bucket *without* any
``s3:prefix`` (S3 answers 403 instead otherwise), so it adds that request.

:class:`FunctionPolicies` reads a function's Allow statements: its ``Policies`` (inline
documents and the SAM policy templates the template uses) and every ``AWS::IAM::Policy`` that
names the function's role, intrinsic functions resolved by a :class:`Deployment`. Actions
match with ``*`` and ``?`` wildcards, resources likewise, and the conditions the template
uses (``StringLike``, ``StringEquals``, ``ArnLike``, ``ArnEquals``, ``Null``, ``Bool``, each
with ``IfExists``) are evaluated against the request's keys. No Deny statement is read: the
template's function roles have none.

A developer tool for the tests: nothing in the Lambda layers imports it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tools.template_functions import Deployment, Unresolvable


@dataclass(frozen=True)
class Call:
    """One SDK call a function made: the service's botocore name, the operation's API name,
    the parameters (as botocore validates them) and the HTTP status of the answer."""

    function: str
    service: str
    operation: str
    params: Mapping[str, Any]
    status: int | None = None
    presigned: bool = False


@dataclass(frozen=True)
class Request:
    """One IAM authorisation: action, resource ARN, condition keys."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        keys = "".join(f" {k}={v!r}" for k, v in sorted(self.context.items()))
        return f"{self.action} on {self.resource}{keys}"


@dataclass(frozen=True)
class Statement:
    """One Allow statement, resolved: where it comes from, actions, resources, conditions."""

    origin: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def allows(self, request: Request) -> bool:
        return (
            any(_like(pattern, request.action, case=False) for pattern in self.actions)
            and any(_like(pattern, request.resource) for pattern in self.resources)
            and all(
                _condition(operator, key, values, request.context)
                for operator, keys in self.conditions.items()
                for key, values in keys.items()
            )
        )


def _like(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM's wildcards: ``*`` any run of characters (``/`` included), ``?`` one; no classes."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _condition(operator: str, key: str, values: tuple[str, ...], context: Mapping[str, str]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if base == "Null":
        return (key not in context) == (values[0] == "true")
    if key not in context:
        return if_exists
    value = context[key]
    if base in ("StringLike", "ArnLike"):
        return any(_like(pattern, value) for pattern in values)
    if base in ("StringEquals", "ArnEquals", "Bool"):
        return value in values
    raise Unresolvable(f"condition operator {operator} is not known to this evaluator")


# ---------------------------------------------------------------------- calls -> requests


@dataclass(frozen=True)
class Names:
    """Where the calls' resources live: partition, region, account (ARNs are built from names)."""

    partition: str = "aws"
    region: str = "us-east-1"
    account: str = "123456789012"

    def s3(self, bucket: str, key: str | None = None) -> str:
        return f"arn:{self.partition}:s3:::{bucket}" + (f"/{key}" if key is not None else "")

    def table(self, name: str, index: str | None = None) -> str:
        base = f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table/{name}"
        return base + (f"/index/{index}" if index else "")

    def regional(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


_S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",
    "DeleteObject": "s3:DeleteObject",
    "PutObjectTagging": "s3:PutObjectTagging",
    "GetObjectTagging": "s3:GetObjectTagging",
}
_S3_BUCKET_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
}
_DYNAMODB_TABLE_ACTIONS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "DescribeTable",
}
_TRANSACT = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def requests(call: Call, names: Names) -> list[Request]:
    """The IAM requests AWS authorises for ``call``; Unresolvable for an operation this
    evaluator does not know (add it here rather than guess)."""
    p = call.params
    service, op = call.service, call.operation
    if service == "s3":
        return _s3_requests(call, names)
    if service == "dynamodb":
        if op in _DYNAMODB_TABLE_ACTIONS:
            return [Request(f"dynamodb:{op}", names.table(p["TableName"], p.get("IndexName")))]
        if op in ("BatchGetItem", "BatchWriteItem"):
            return [Request(f"dynamodb:{op}", names.table(table)) for table in sorted(p["RequestItems"])]
        if op in ("TransactWriteItems", "TransactGetItems"):
            found = []
            for item in p["TransactItems"]:
                ((kind, body),) = item.items()
                action = "GetItem" if kind == "Get" else _TRANSACT[kind]
                found.append(Request(f"dynamodb:{action}", names.table(body["TableName"])))
            return found
    if service == "sns" and op == "Publish":
        return [Request("sns:Publish", p["TopicArn"])]
    if service == "events" and op == "PutEvents":
        buses = sorted({entry.get("EventBusName") or "default" for entry in p["Entries"]})
        return [
            Request(
                "events:PutEvents",
                bus if bus.startswith("arn:") else names.regional("events", f"event-bus/{bus}"),
            )
            for bus in buses
        ]
    if service == "sesv2" and op == "SendEmail":
        sender = str(p["FromEmailAddress"]).rsplit("<", 1)[-1].rstrip(">")
        found = [Request("ses:SendEmail", names.regional("ses", f"identity/{sender}"))]
        if p.get("ConfigurationSetName"):
            found.append(
                Request(
                    "ses:SendEmail", names.regional("ses", f"configuration-set/{p['ConfigurationSetName']}")
                )
            )
        return found
    if service == "sesv2" and op == "GetSuppressedDestination":
        return [Request("ses:GetSuppressedDestination", "*")]
    if service == "scheduler" and op in ("CreateSchedule", "UpdateSchedule", "GetSchedule", "DeleteSchedule"):
        group = p.get("GroupName") or "default"
        found = [Request(f"scheduler:{op}", names.regional("scheduler", f"schedule/{group}/{p['Name']}"))]
        role = (p.get("Target") or {}).get("RoleArn")
        if role:
            found.append(Request("iam:PassRole", role, {"iam:PassedToService": "scheduler.amazonaws.com"}))
        return found
    if service == "stepfunctions" and op == "StartExecution":
        return [Request("states:StartExecution", p["stateMachineArn"])]
    if service == "stepfunctions" and op == "DescribeExecution":
        return [Request("states:DescribeExecution", p["executionArn"])]
    if service == "sqs" and op == "SendMessage":
        # https://sqs.{region}.amazonaws.com/{account}/{name}: the queue's ARN from its URL.
        account, name = str(p["QueueUrl"]).rstrip("/").rsplit("/", 2)[-2:]
        return [Request("sqs:SendMessage", f"arn:{names.partition}:sqs:{names.region}:{account}:{name}")]
    if service == "lambda" and op == "Invoke":
        name = str(p["FunctionName"])
        arn = name if name.startswith("arn:") else names.regional("lambda", f"function:{name}")
        return [Request("lambda:InvokeFunction", arn)]
    raise Unresolvable(f"{service} {op}: no IAM mapping known to this evaluator")


def _s3_requests(call: Call, names: Names) -> list[Request]:
    p, op = call.params, call.operation
    bucket = str(p["Bucket"])
    if op in _S3_BUCKET_ACTIONS:
        context = {"s3:prefix": str(p["Prefix"])} if p.get("Prefix") else {}
        return [Request(_S3_BUCKET_ACTIONS[op], names.s3(bucket), context)]
    if op == "DeleteObjects":
        return [Request("s3:DeleteObject", names.s3(bucket, o["Key"])) for o in p["Delete"]["Objects"]]
    if op in ("UploadPartCopy", "CopyObject"):
        source = p["CopySource"]
        if isinstance(source, str):
            source_bucket, _, source_key = unquote(source.lstrip("/")).partition("/")
            source_key = source_key.split("?versionId=")[0]
        else:
            source_bucket, source_key = source["Bucket"], source["Key"]
        found = [
            Request("s3:PutObject", names.s3(bucket, p["Key"])),
            Request("s3:GetObject", names.s3(source_bucket, source_key)),
        ]
        if op == "CopyObject" and p.get("TaggingDirective") == "REPLACE" and p.get("Tagging"):
            found.append(Request("s3:PutObjectTagging", names.s3(bucket, p["Key"])))
        return found
    if op not in _S3_OBJECT_ACTIONS:
        raise Unresolvable(f"s3 {op}: no IAM mapping known to this evaluator")
    action = _S3_OBJECT_ACTIONS[op]
    if p.get("VersionId") and action in ("s3:GetObject", "s3:DeleteObject", "s3:GetObjectTagging"):
        action = action.replace("Object", "ObjectVersion", 1)
    found = [Request(action, names.s3(bucket, p["Key"]))]
    if op in ("PutObject", "CreateMultipartUpload") and p.get("Tagging"):
        found.append(Request("s3:PutObjectTagging", names.s3(bucket, p["Key"])))
    if action.startswith("s3:GetObject") and call.status == 404 and not call.presigned:
        # "Absent" is a 404 only for a caller that may list the bucket (no s3:prefix: the
        # request has none); otherwise S3 answers 403 AccessDenied.
        found.append(Request("s3:ListBucket", names.s3(bucket)))
    return found


# ---------------------------------------------------------------------- statements


# The SAM policy templates the template uses (SAM's policy_templates.json), as statements.
def _sam_template(name: str, parameters: Mapping[str, Any], deployment: Deployment) -> list[dict[str, Any]]:
    where = f"arn:{deployment.partition}:{{}}:{deployment.region}:{deployment.account}:{{}}"
    if name == "SNSPublishMessagePolicy":
        return [{"Action": ["sns:Publish"], "Resource": where.format("sns", parameters["TopicName"])}]
    if name == "EventBridgePutEventsPolicy":
        bus = f"event-bus/{parameters['EventBusName']}"
        return [{"Action": ["events:PutEvents"], "Resource": where.format("events", bus)}]
    raise Unresolvable(f"SAM policy template {name} is not known to this evaluator")


class FunctionPolicies:
    """The Allow statements of each function's role in one deployment of the template."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    def statements(self, function: str) -> list[Statement]:
        d = self.deployment
        resource = d.resources[function]
        found: list[Statement] = []
        for index, policy in enumerate(resource["Properties"].get("Policies") or []):
            origin = f"{function}.Policies[{index}]"
            resolved = d.resolve(policy, origin)
            if isinstance(resolved, dict) and "Statement" in resolved:
                found.extend(_statements(resolved["Statement"], origin))
            elif isinstance(resolved, dict) and len(resolved) == 1:
                ((name, parameters),) = resolved.items()
                found.extend(_statements(_sam_template(name, parameters, d), f"{origin} ({name})"))
            else:
                raise Unresolvable(f"{origin}: a managed policy is not known to this evaluator")
        role = {"Ref": f"{function}Role"}
        for logical_id, other in d.resources.items():
            if other.get("Type") != "AWS::IAM::Policy" or role not in other["Properties"].get("Roles", []):
                continue
            if other.get("Condition") and not d.condition(other["Condition"]):
                continue
            document = d.resolve(other["Properties"]["PolicyDocument"], logical_id)
            found.extend(_statements(document["Statement"], logical_id))
        return found


def _statements(statements: Iterable[Mapping[str, Any]], origin: str) -> list[Statement]:
    found = []
    for index, statement in enumerate(statements):
        if statement.get("Effect", "Allow") != "Allow":
            raise Unresolvable(f"{origin}: only Allow statements are read")
        actions = statement["Action"]
        resources = statement["Resource"]
        conditions = {
            operator: {key: tuple(v) if isinstance(v, list) else (str(v),) for key, v in keys.items()}
            for operator, keys in (statement.get("Condition") or {}).items()
        }
        found.append(
            Statement(
                origin=f"{origin}:{statement.get('Sid') or index}",
                actions=tuple([actions] if isinstance(actions, str) else actions),
                resources=tuple([resources] if isinstance(resources, str) else resources),
                conditions=conditions,
            )
        )
    return found


@dataclass(frozen=True)
class Grant:
    """One (statement, action, resource) a role holds: what an unused-grant report lists."""

    origin: str
    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.action} on {self.resource}"


def grants(statements: Iterable[Statement]) -> list[Grant]:
    return [Grant(s.origin, a, r) for s in statements for a in s.actions for r in s.resources]


def used_by(grant: Grant, statements: Iterable[Statement], request: Request) -> bool:
    """Whether ``request`` is allowed through this very grant (its statement, action and resource)."""
    for statement in statements:
        if statement.origin != grant.origin:
            continue
        narrowed = Statement(statement.origin, (grant.action,), (grant.resource,), statement.conditions)
        if narrowed.allows(request):
            return True
    return False
