"""Tenant isolation of the export bucket (architecture.md: "a tenant's read access to the
export bucket is scoped to its prefix"), evaluated on the policies of template.yaml.

moto's IAM enforcement ignores Condition blocks and policy variables such as
``${aws:PrincipalTag/tenantId}``, so it cannot judge this policy. The evaluator below
implements the subset of AWS's documented evaluation logic that the template uses, and
refuses (raises) on anything outside it rather than guess:

- Effect Allow / Deny; an explicit Deny wins, otherwise access needs an Allow;
- Action: strings or lists, ``*`` / ``?`` wildcards, case-insensitive;
- Resource: strings or lists, ``*`` / ``?`` wildcards (``*`` crosses ``/``), case-sensitive;
- policy variables ``${aws:PrincipalTag/<key>}`` in Resource and condition values; a
  statement whose variable has no value in the request does not apply;
- Condition operators StringEquals, StringLike, Bool, Null; several values of one key are
  OR-ed, several keys and operators AND-ed; a key absent from the request fails every
  operator but Null.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tools.template_tables import load_template

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "tracking-export-dev-123456789012-exports"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
OTHER_BUCKET_ARN = "arn:aws:s3:::tracking-export-dev-123456789012-config"


# ---------------------------------------------------------------- the evaluator


class UnsupportedPolicy(Exception):
    """The policy uses IAM features this evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    principal_tags: dict[str, str] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)

    def value(self, key: str) -> str | None:
        if key.startswith("aws:PrincipalTag/"):
            return self.principal_tags.get(key.removeprefix("aws:PrincipalTag/"))
        return self.context.get(key)


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def substitute(text: str, request: Request) -> str | None:
    """``text`` with its policy variables replaced; None when one has no value."""
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if not name.startswith("aws:PrincipalTag/"):
            raise UnsupportedPolicy(f"policy variable ${{{name}}}")
        value = request.value(name)
        if value is None:
            missing = True
            return ""
        return value

    result = _VARIABLE.sub(replace, text)
    return None if missing else result


def glob_matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def condition_holds(operator: str, key: str, expected: Any, request: Request) -> bool:
    if operator not in ("StringEquals", "StringLike", "Bool", "Null"):
        raise UnsupportedPolicy(f"condition operator {operator}")
    actual = request.value(key)
    values = [str(v).lower() if isinstance(v, bool) else str(v) for v in as_list(expected)]
    if operator == "Null":
        return any((actual is None) == (v == "true") for v in values)
    if actual is None:
        return False
    for raw in values:
        wanted = substitute(raw, request)
        if wanted is None:
            continue
        if operator == "StringLike" and glob_matches(wanted, actual):
            return True
        if operator == "StringEquals" and wanted == actual:
            return True
        if operator == "Bool" and wanted.lower() == actual.lower():
            return True
    return False


def statement_applies(statement: dict[str, Any], request: Request) -> bool:
    unknown = set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition", "Principal"}
    if unknown:
        raise UnsupportedPolicy(f"statement elements {sorted(unknown)}")
    if statement.get("Principal", "*") != "*":
        raise UnsupportedPolicy("a Principal other than *")
    if not any(glob_matches(a, request.action, ignore_case=True) for a in as_list(statement["Action"])):
        return False
    resources = [substitute(r, request) for r in as_list(statement["Resource"])]
    if not any(r is not None and glob_matches(r, request.resource) for r in resources):
        return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, expected in keys.items():
            if not condition_holds(operator, key, expected, request):
                return False
    return True


def is_allowed(policies: list[dict[str, Any]], request: Request) -> bool:
    """AWS's order: an explicit Deny anywhere wins; else an Allow anywhere; else denied."""
    applying = [s for p in policies for s in as_list(p["Statement"]) if statement_applies(s, request)]
    if any(s["Effect"] == "Deny" for s in applying):
        return False
    return any(s["Effect"] == "Allow" for s in applying)


# ---------------------------------------------------------------- the template's policies


def resolve(node: Any) -> Any:
    """The few intrinsic functions the policies use, for an export bucket named BUCKET."""
    attributes = {("ExportBucket", "Arn"): BUCKET_ARN}
    if isinstance(node, dict):
        if "Fn::GetAtt" in node:
            return attributes[tuple(node["Fn::GetAtt"])]
        if "Fn::Sub" in node:
            text = node["Fn::Sub"]
            assert isinstance(text, str)
            text = text.replace("${ExportBucket.Arn}", BUCKET_ARN)
            text = re.sub(r"\$\{!", "\x00", text)  # ${!x} is Fn::Sub's escape for a literal ${x}
            if "${" in text:
                raise UnsupportedPolicy(f"unresolved Fn::Sub {node['Fn::Sub']!r}")
            return text.replace("\x00", "${")
        if "Ref" in node:
            if node["Ref"] == "ExportBucket":
                return BUCKET
            raise UnsupportedPolicy(f"Ref {node['Ref']}")
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value) for value in node]
    return node


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")["Resources"]


@pytest.fixture(scope="module")
def tenant_policy(resources: dict[str, Any]) -> dict[str, Any]:
    resource = resources["TenantExportReadPolicy"]
    assert resource["Type"] == "AWS::IAM::ManagedPolicy"
    policy: dict[str, Any] = resolve(resource["Properties"]["PolicyDocument"])
    return policy


@pytest.fixture(scope="module")
def bucket_policy(resources: dict[str, Any]) -> dict[str, Any]:
    policy: dict[str, Any] = resolve(resources["ExportBucketPolicy"]["Properties"]["PolicyDocument"])
    return policy


def get(key: str, tenant: str | None = "acme", *, tls: bool = True) -> Request:
    return Request(
        "s3:GetObject",
        f"{BUCKET_ARN}/{key}",
        {"tenantId": tenant} if tenant else {},
        {"aws:SecureTransport": "true" if tls else "false"},
    )


def list_bucket(prefix: str | None, tenant: str | None = "acme") -> Request:
    context = {"aws:SecureTransport": "true"}
    if prefix is not None:
        context["s3:prefix"] = prefix
    return Request("s3:ListBucket", BUCKET_ARN, {"tenantId": tenant} if tenant else {}, context)


# ---------------------------------------------------------------- the evaluator itself


def test_evaluator_denies_by_default_and_lets_deny_win() -> None:
    allow = {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}
    deny = {"Effect": "Deny", "Action": "*", "Resource": "arn:aws:s3:::b/secret/*"}
    policy = {"Statement": [allow, deny]}
    assert is_allowed([policy], Request("S3:GETOBJECT", "arn:aws:s3:::b/x"))
    assert not is_allowed([policy], Request("s3:GetObject", "arn:aws:s3:::b/secret/x"))
    assert not is_allowed([policy], Request("s3:PutObject", "arn:aws:s3:::b/x"))
    assert not is_allowed([{"Statement": []}], Request("s3:GetObject", "arn:aws:s3:::b/x"))


def test_evaluator_refuses_what_it_does_not_implement() -> None:
    for statement in (
        {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"IpAddress": {"k": "v"}}},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::${aws:username}/*"},
    ):
        with pytest.raises(UnsupportedPolicy):
            is_allowed([{"Statement": [statement]}], Request("s3:GetObject", "arn:aws:s3:::b/x"))


def test_evaluator_substitutes_principal_tags_and_drops_statements_without_them() -> None:
    statement = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/${aws:PrincipalTag/t}/*",
    }
    policy = {"Statement": [statement]}
    assert is_allowed([policy], Request("s3:GetObject", "arn:aws:s3:::b/a/x", {"t": "a"}))
    assert not is_allowed([policy], Request("s3:GetObject", "arn:aws:s3:::b/a/x", {"t": "b"}))
    # Without the tag the resource would read "b//*" if substituted with "": it must not apply.
    assert not is_allowed([policy], Request("s3:GetObject", "arn:aws:s3:::b//x"))


# ---------------------------------------------------------------- the tenant's access


def test_tenant_reads_its_own_files(tenant_policy: dict[str, Any], bucket_policy: dict[str, Any]) -> None:
    for key in ("tenants/acme/x.csv", "tenants/acme/reports/2026/x.csv.gz", "tenants/acme/x.csv.end"):
        assert is_allowed([tenant_policy, bucket_policy], get(key)), key


def test_tenant_lists_its_own_prefix(tenant_policy: dict[str, Any], bucket_policy: dict[str, Any]) -> None:
    for prefix in ("tenants/acme/", "tenants/acme/reports/", "tenants/acme/daily_2026"):
        assert is_allowed([tenant_policy, bucket_policy], list_bucket(prefix)), prefix


def test_tenant_cannot_read_another_tenants_files(tenant_policy: dict[str, Any]) -> None:
    for key in (
        "tenants/globex/x.csv",
        "tenants/acme-eu/x.csv",  # a tenant id that starts with "acme"
        "tenants/x.csv",
        "x.csv",
        "tenants/globex/tenants/acme/x.csv",
    ):
        assert not is_allowed([tenant_policy], get(key)), key


def test_tenant_cannot_list_beyond_its_prefix(tenant_policy: dict[str, Any]) -> None:
    for prefix in (None, "", "tenants/", "tenants/globex/", "tenants/acme", "tenants/acme-eu/", "tenants/a"):
        assert not is_allowed([tenant_policy], list_bucket(prefix)), prefix


def test_tenant_cannot_write_delete_or_read_elsewhere(tenant_policy: dict[str, Any]) -> None:
    tags = {"tenantId": "acme"}
    own = f"{BUCKET_ARN}/tenants/acme/x.csv"
    for request in (
        Request("s3:PutObject", own, tags),
        Request("s3:DeleteObject", own, tags),
        Request("s3:PutObjectTagging", own, tags),
        Request("s3:GetObjectTagging", own, tags),
        Request("s3:AbortMultipartUpload", own, tags),
        Request("s3:GetObject", f"{OTHER_BUCKET_ARN}/tenants/acme/tenant.json", tags),
        Request("s3:ListBucket", OTHER_BUCKET_ARN, tags, {"s3:prefix": "tenants/acme/"}),
    ):
        assert not is_allowed([tenant_policy], request), request


def test_each_tenant_sees_only_its_own_prefix(tenant_policy: dict[str, Any]) -> None:
    assert is_allowed([tenant_policy], get("tenants/globex/x.csv", tenant="globex"))
    assert not is_allowed([tenant_policy], get("tenants/acme/x.csv", tenant="globex"))
    assert is_allowed([tenant_policy], list_bucket("tenants/globex/", tenant="globex"))


def test_a_principal_without_the_tenant_tag_gets_nothing(tenant_policy: dict[str, Any]) -> None:
    assert not is_allowed([tenant_policy], get("tenants/acme/x.csv", tenant=None))
    assert not is_allowed([tenant_policy], get("tenants//x.csv", tenant=None))
    assert not is_allowed([tenant_policy], list_bucket("tenants/", tenant=None))
    assert not is_allowed([tenant_policy], list_bucket("tenants//", tenant=None))


def test_plain_http_is_refused_even_to_the_tenant(
    tenant_policy: dict[str, Any], bucket_policy: dict[str, Any]
) -> None:
    assert not is_allowed([tenant_policy, bucket_policy], get("tenants/acme/x.csv", tls=False))
