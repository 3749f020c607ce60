"""The SMS -> transactions domain: synthetic bank SMS, the extraction result, and the extractors."""
