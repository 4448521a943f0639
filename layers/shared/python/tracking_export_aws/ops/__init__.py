"""Operator use cases (``tracking-export-admin``, tools/admin/): one module per use case, pure
over the adapters of ``aws`` and the run ledger; no argparse, no printing."""
