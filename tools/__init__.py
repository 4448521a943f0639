"""Developer and operator tools (local stack, scripts, command lines): never shipped in the Lambda
layers."""
