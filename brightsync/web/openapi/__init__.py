"""The admin API's OpenAPI document, built from the marshmallow schemas it validates with:
one module per area (admin, ops, review), `document` puts them together, `serve` answers
GET /api/v1/openapi.json."""
