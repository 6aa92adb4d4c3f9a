"""Swagger UI for the admin API at ``/admin/docs``, off by default, with every asset served from the package.

FastAPI's default page loads Swagger UI's JavaScript from a public CDN: whoever controls that
CDN (or a network path to it) would run script in an admin's browser on the gateway's origin,
where admin tokens are typed. The assets come from the ``swagger-ui-bundle`` package instead
(Apache-2.0; install ``vaultgate[docs]``), served from ``/admin/docs/assets/``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from vaultgate.config import ConfigError

DOCS_PATH = "/admin/docs"
ASSETS_PATH = DOCS_PATH + "/assets"
# The only files served: a fixed list, so no path from the request ever reaches the file system.
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
# The page's own inline script starts Swagger UI; nothing may load from anywhere but here.
_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def swagger_ui_dir() -> Path:
    """Where the packaged Swagger UI files are; ConfigError when ``swagger-ui-bundle`` is not installed."""
    try:
        from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ConfigError(
            "VAULTGATE_ADMIN_DOCS=true needs the Swagger UI assets: pip install 'vaultgate[docs]'"
        ) from exc
    return Path(str(swagger_ui_path))


def add_docs_routes(app: FastAPI, openapi_url: str) -> None:
    """Serve Swagger UI at ``/admin/docs`` from packaged assets (checked now, so a missing package fails start-up)."""
    assets = swagger_ui_dir()
    missing = [name for name in _ASSETS if not (assets / name).is_file()]
    if missing:
        raise ConfigError(f"VAULTGATE_ADMIN_DOCS=true: the Swagger UI package lacks {', '.join(missing)}")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def _docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title="vaultgate admin API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            oauth2_redirect_url=None,
        )
        page.headers["content-security-policy"] = _CSP
        page.headers["x-content-type-options"] = "nosniff"
        return page

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def _asset(name: str) -> FileResponse:
        media_type = _ASSETS.get(name)
        if media_type is None:
            raise HTTPException(404)  # answered like any other unknown /admin path
        return FileResponse(assets / name, media_type=media_type, headers={"x-content-type-options": "nosniff"})
