"""Helpers shared by the test modules: fakes, loopback scenarios, telemetry and pytester tools.

Imported as ``helpers.<module>`` (pytest puts ``tests/`` on ``sys.path``; fixtures live in
``tests/conftest.py``).
"""
