"""One export through the export handler of a given tree, in this fresh process (``export_memory.py``).

    python bench/export_handler_child.py TREE TENANT EXPORT_GUID RUN_AT

``TREE`` is this checkout or an extracted older revision; the environment must make the
project importable from there (``revisions.code_environment``) and hold the handler's
settings. Prints one JSON line: the outcome, rows, sha256, the CPU seconds of the handler
call and the process's peak RSS (after imports and at the end). Exits with an error if any
project module was loaded from outside ``TREE``.
"""

from __future__ import annotations

import importlib.util
import json
import resource
import sys
import time
from pathlib import Path

from revisions import foreign_modules

REGION = "us-east-1"


class _Context:
    function_name = "bench-export"
    function_version = "$LATEST"
    memory_limit_in_mb = 1769
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:bench-export"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def peak_rss_mib() -> float:
    """This process's peak RSS. Linux's VmHWM, because ``ru_maxrss`` of a forked-then-exec'd
    child starts from the parent's RSS at the fork (the bench parent holds the loaded dataset)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    tree, tenant, guid, run_at = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    app = tree / "functions" / "export" / "export_app.py"
    spec = importlib.util.spec_from_file_location("export_app", app)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rss_imported = peak_rss_mib()
    cpu = time.process_time()
    result = module.handler({"tenantId": tenant, "exportGuid": guid, "runAt": run_at}, _Context())
    cpu = time.process_time() - cpu
    wrong = foreign_modules(tree)
    if wrong:
        sys.exit(f"modules not from {tree}: " + "; ".join(wrong))
    figures = {
        "outcome": result["outcome"],
        "sha256": result.get("sha256"),
        "rows": result.get("rows"),
        "error": result.get("error"),
        "cpu_s": cpu,
        "rss_after_import_mib": rss_imported,
        "peak_rss_mib": peak_rss_mib(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
