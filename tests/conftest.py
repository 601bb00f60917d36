"""The tests' fixture library, registered for every test module: databases (tests/support/databases.py),
the Temporal servers (tests/support/temporal.py) and the small companies on them
(tests/support/companies.py). Data and helpers that several modules use are imported from tests/support/;
no test module imports another."""

from __future__ import annotations

import os

from tests.support.data import TEST_SECRET

os.environ.setdefault("STOCKWARDEN_SECRET_KEY", TEST_SECRET)
"""Every test, and every command a test starts, signs and encrypts with this unless it says otherwise
(serve, worker and up refuse to run without a secret; tests/test_secret.py runs them without)."""

pytest_plugins = ["tests.support.databases", "tests.support.temporal", "tests.support.companies"]
