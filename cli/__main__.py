"""Allow `python -m cli`."""
from .main import main

main()
