"""Helpers shared by the tests (data, events, handlers, the CLI, the bad-input table); fixtures stay in conftest.py."""
