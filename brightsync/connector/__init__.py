"""The CRM connector contract: schemas, its OpenAPI document, and the conformance check."""
