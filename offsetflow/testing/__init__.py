"""Test doubles for external services that are real network servers, never patched functions."""
