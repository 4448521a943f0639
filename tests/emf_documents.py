"""Reading the metrics a handler printed: CloudWatch embedded metric format (EMF) documents on
standard output, as Powertools writes them and as CloudWatch Logs turns them into metrics.

``tests/conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

import json
from typing import Any


def emf_documents(out: str) -> list[dict[str, Any]]:
    """The EMF documents among the printed lines."""
    documents = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def metric(documents: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The documents that carry metric ``name``, each as its dimensions and value (the sum of
    the values: EMF allows a list)."""
    found = []
    for document in documents:
        [directive] = document["_aws"]["CloudWatchMetrics"]
        if any(m["Name"] == name for m in directive["Metrics"]):
            [dimensions] = directive["Dimensions"]
            values = document[name] if isinstance(document[name], list) else [document[name]]
            found.append({**{d: document[d] for d in dimensions}, "value": sum(values)})
    return found
