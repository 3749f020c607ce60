"""Each pipeline's producer job: what puts its work onto Kafka, exactly once per item.

Installed as ``offsetflow.producers`` (``offsetflow/producers`` links here); import it by that name."""
