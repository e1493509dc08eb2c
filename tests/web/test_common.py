"""The helpers every JSON blueprint shares (brightsync.web.common), on a bare Flask app."""

from __future__ import annotations

import pytest
from flask import Flask
from marshmallow import Schema, ValidationError, fields

from brightsync.web.common import MAX_ID, RowIdConverter, int_arg, load_body


class Named(Schema):
    name = fields.String(required=True)


def test_int_arg_defaults_bounds_and_reasons():
    app = Flask(__name__)
    with app.test_request_context("/?limit=&offset=7&hours=x&points=501"):
        assert int_arg("limit", 20, 1, 200) == 20  # empty: the default
        assert int_arg("absent", 3, 0, 9) == 3
        assert int_arg("offset", 0, 0, 10) == 7
        with pytest.raises(ValidationError) as bad:
            int_arg("hours", 24, 1, 720)
        assert bad.value.messages == {"hours": ["must be a whole number"]}
        with pytest.raises(ValidationError) as big:
            int_arg("points", 24, 1, 500)
        assert big.value.messages == {"points": ["must be between 1 and 500"]}


def test_load_body_no_body_is_empty_and_non_json_is_refused():
    app = Flask(__name__)
    with app.test_request_context("/", method="POST", json={"name": "Acme"}):
        assert load_body(Named()) == {"name": "Acme"}
    with app.test_request_context("/", method="POST", data=b"not json"):
        with pytest.raises(ValidationError) as exc:
            load_body(Named())
        assert exc.value.messages == {"_body": ["body is not JSON"]}
    with app.test_request_context("/", method="POST"):
        with pytest.raises(ValidationError) as exc:
            load_body(Named())  # no body loads as {}: the schema says what is missing
        assert "name" in exc.value.messages


def test_row_ids_above_the_column_range_name_nothing():
    app = Flask(__name__)
    app.url_map.converters["int"] = RowIdConverter
    app.add_url_rule("/rows/<int:row_id>", "row", lambda row_id: str(row_id))
    client = app.test_client()
    assert client.get(f"/rows/{MAX_ID}").status_code == 200
    assert client.get(f"/rows/{MAX_ID + 1}").status_code == 404
