"""AWS Lambda entry point (Handler: handler.handler). The model loads here, at import, in Lambda's init phase."""

import logging

from mangum import Mangum
from predict_service.app import create_app
from predict_service.config import load_settings
from predict_service.errors import InvalidSettingsError
from predict_service.loading import load_runtime
from predict_service.logs import configure_logging

try:
    settings = load_settings()
except InvalidSettingsError as error:
    # LOG_LEVEL is itself a setting, so the line saying what is wrong goes out at the default level. Re-raised so
    # that Lambda reports a failed init instead of serving with settings nobody chose.
    configure_logging("INFO")
    logging.getLogger("predict_service.settings").critical(
        "settings not valid: %s", error.message, extra={"detail": error.detail}
    )
    raise
configure_logging(settings.log_level)
app = create_app(settings, load_runtime(settings))
# lifespan="off": Mangum would otherwise run the app's startup/shutdown on every invocation.
handler = Mangum(app, lifespan="off")
