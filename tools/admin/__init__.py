"""``tracking-export-admin``: the operator's command (docs/operations.md).

One argparse root (:mod:`tools.admin.main`) and one module per subcommand, each with
``register(subparsers)``. Where the stack's resources are (a deployed stack's outputs, an
env file shaped like events/env.local.json, or the functions' environment variables) is
:mod:`tools.admin.target`; how work is run as the functions run it (Lambda Invoke in AWS, the
handler in this process against the local stack) is :mod:`tools.admin.runner`. The use cases
themselves live in the layer (``tracking_export_aws.ops``): the subcommands parse and print.

Outside every Lambda layer, like the rest of tools/.
"""
