import sys

from aga_otel.cli import main

sys.exit(main())
