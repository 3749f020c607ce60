"""The commit-after-write consumer loop both pipelines run on."""
