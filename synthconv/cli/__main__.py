"""`python -m synthconv.cli` (how tests, benches and `generate`'s local worker start the CLI)."""


from . import main

main()
