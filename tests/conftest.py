import sys
from pathlib import Path

# tests/integration/lab.py is imported as `lab` by the integration tests.
sys.path.insert(0, str(Path(__file__).parent / "integration"))
