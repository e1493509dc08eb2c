"""The whole OpenAPI document of the admin API, built once per process."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from brightsync import __version__
from brightsync.web.openapi.admin import add_admin, add_duplicates, add_service
from brightsync.web.openapi.connect import add_connect
from brightsync.web.openapi.ops import add_operations
from brightsync.web.openapi.review import add_review


@lru_cache(maxsize=1)
def admin_openapi() -> dict[str, Any]:
    spec = APISpec(
        title="BrightSync admin API",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Operate BrightSync: organisations, mailboxes, status, sync cache."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    # The order of the parts is the order of the document's paths and schemas.
    add_admin(spec)
    add_connect(spec)
    add_operations(spec)
    add_review(spec)
    add_duplicates(spec)
    add_service(spec)
    return spec.to_dict()
