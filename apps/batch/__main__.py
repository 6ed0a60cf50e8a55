from apps.batch.main import main
from apps.common.cli import run_main

run_main(main)
