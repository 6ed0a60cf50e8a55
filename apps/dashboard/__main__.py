from apps.common.cli import run_main
from apps.dashboard.server import main

run_main(main)
