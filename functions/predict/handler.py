"""AWS Lambda entry point (Handler: handler.handler). The model loads here, at import, in Lambda's init phase."""

from mangum import Mangum
from predict_service.app import create_app
from predict_service.config import Settings
from predict_service.loading import load_runtime
from predict_service.logs import configure_logging

settings = Settings()
configure_logging(settings.log_level)
app = create_app(settings, load_runtime(settings))
# lifespan="off": Mangum would otherwise run the app's startup/shutdown on every invocation.
handler = Mangum(app, lifespan="off")
