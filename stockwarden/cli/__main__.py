"""`python -m stockwarden.cli`, as the tests and benchmarks run it: the console script itself."""

from stockwarden.cli import main

main()
