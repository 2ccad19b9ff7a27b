import os

from .cli import exit_process, main
from .procs import process_start_time

exit_process(main(started=process_start_time(os.getpid())))
