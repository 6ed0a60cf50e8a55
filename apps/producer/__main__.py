from apps.common.cli import run_main
from apps.producer.main import main

run_main(main)
