"""Developer tools (local stack, scripts): never shipped in the Lambda layers."""
