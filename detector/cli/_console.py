"""Where people-facing output goes: stderr (stdout is kept for --json and data)."""
from rich.console import Console

err_console = Console(stderr=True)
out_console = Console()
