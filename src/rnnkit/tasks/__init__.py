"""Tasks: one module per task, with its data, its head and its metrics."""
