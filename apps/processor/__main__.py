from apps.common.cli import run_main
from apps.processor.main import main

run_main(main)
