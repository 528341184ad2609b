"""Outputs: the env file (written atomically), the JSON log and CloudWatch Embedded Metric Format."""
