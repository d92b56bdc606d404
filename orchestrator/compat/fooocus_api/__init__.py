"""Fooocus-API's HTTP API (its v1 forms, v2 JSON, job queries and engine lists) over remgo's own services."""
