"""The stateful data pipeline: records -> segments -> lanes -> batches."""
