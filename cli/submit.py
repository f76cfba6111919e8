"""The `signoff` command as a Python file, for `spark-submit` (which runs an application from its path):
`spark-submit … "$(python -c 'import cli.submit as s; print(s.__file__)')" simulate --engine spark …`."""
from cli.main import main

if __name__ == "__main__":
    main()
