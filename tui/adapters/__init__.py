"""The only places labdeck uses private names of its dependencies, each pinned by tests/test_adapters.py and
waiting for the upstream change named beside it."""
