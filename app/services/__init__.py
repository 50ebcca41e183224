"""Use cases: each public method is one, owns its transaction and returns pydantic views."""
