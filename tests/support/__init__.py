"""The tests' fixture library: servers, databases, companies and the data they share (tests/conftest.py
registers the fixtures; test modules import helpers and data from here, never from each other)."""
