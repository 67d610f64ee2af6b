"""AWS Lambda entry point (Handler: handler.handler). The model loads here, at import, in Lambda's init phase."""

import gc

# Init creates a few hundred thousand objects that live as long as the process (modules, the app, the model), and
# the cyclic collector would walk them over and over while they are being made: paused for init, it starts about
# 13% faster (bench/run.py, cold start). What init built is then frozen out of later collections, so the
# collections a request triggers scan that request's objects only.
gc.disable()

from mangum import Mangum  # noqa: E402
from predict_service.app import create_app  # noqa: E402
from predict_service.loading import load_runtime, settings_for_init  # noqa: E402

settings = settings_for_init()
app = create_app(settings, load_runtime(settings))
# lifespan="off": Mangum would otherwise run the app's startup/shutdown on every invocation.
handler = Mangum(app, lifespan="off")
gc.freeze()
gc.enable()
