"""Each pipeline's consumer, complete: typed settings and the one ``build`` that makes them a ``Pipeline``.

Installed as ``offsetflow.consumers`` (``offsetflow/consumers`` links here); import it by that name."""
