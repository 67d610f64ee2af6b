"""AWS Lambda entry point (Handler: handler.handler). The model loads here, at import, in Lambda's init phase."""

import gc

# Init creates a few hundred thousand objects that live as long as the process (modules, the app, the model), and
# the cyclic collector would walk them over and over while they are being made: paused for init, it starts about
# 13% faster (python -m bench.run, cold start). What init built is then frozen out of later collections, so the
# collections a request triggers scan that request's objects only.
gc.disable()

from predict_service.loading import lambda_handler  # noqa: E402

handler = lambda_handler()
gc.freeze()
gc.enable()
