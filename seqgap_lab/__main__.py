"""Allow `python -m seqgap_lab ...` as an alias of the `seqgap-lab` command."""
from seqgap_lab.app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
