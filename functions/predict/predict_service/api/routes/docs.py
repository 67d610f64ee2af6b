"""GET /docs: Swagger UI, served whole by the app so that it renders offline and behind networks that block CDNs.

The assets come from the pinned `fastapi-swagger` package (Swagger UI's own bundle and stylesheet, about 1.9 MB;
MIT, Swagger UI itself Apache-2.0) and are answered at `/docs?asset=NAME`, on the /docs route itself: API Gateway
routes GET /docs to the function without the optional JWT authorizer, which any other path would need. No inline
script or style, so the page's Content-Security-Policy allows this origin only.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response

router = APIRouter()

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sklambda prediction API</title>
<link rel="stylesheet" href="docs?asset=swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs?asset=swagger-ui-bundle.js"></script>
<script src="docs?asset=init.js"></script>
</body>
</html>
"""
# Relative URLs throughout: the page, its assets and openapi.json are siblings under any stage or base path.
INIT_SCRIPT = b"""window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "init.js": "text/javascript; charset=utf-8",
}
# The assets change only with the pinned package, i.e. with a deploy.
ASSET_CACHE_CONTROL = "public, max-age=86400"


@cache
def asset_bytes(name: str) -> bytes:
    """An asset's bytes, read once per process and only when /docs is used, never at cold start."""
    if name == "init.js":
        return INIT_SCRIPT
    return files("fastapi_swagger.resources").joinpath(name).read_bytes()


@router.get("/docs", include_in_schema=False)
async def docs(asset: str | None = None) -> Response:
    if asset is None:
        return HTMLResponse(PAGE, headers={"content-security-policy": CONTENT_SECURITY_POLICY})
    media_type = ASSET_TYPES.get(asset)
    if media_type is None:
        raise HTTPException(404)
    return Response(
        asset_bytes(asset),
        media_type=media_type,
        headers={"cache-control": ASSET_CACHE_CONTROL, "content-security-policy": CONTENT_SECURITY_POLICY},
    )
