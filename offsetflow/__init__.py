"""offsetflow: resumable data pipelines over Kafka; consumer-group offsets are the checkpoints."""

__version__ = "0.1.0"
