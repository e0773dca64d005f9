"""What the benchmarks and the site's test harnesses share: ports, processes, sites, services, HTTP.

Every process they start runs in BASE_DIR, the repository root, so that `benchmarks`,
`flightboard` and `tests` are importable there and `python -m ...` finds them.
"""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
