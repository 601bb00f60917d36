"""Policy as code: the policy model and loader, its JSON Schema, and the durable-rules evaluation."""
