"""``python chalice_for_runtime.py <runtime> <chalice arguments>``: Chalice's CLI, for another runtime.

Chalice takes the functions' runtime from the Python it runs on (``Config.
lambda_python_version``; its source says this may become a setting). This launcher
makes it the given runtime, so the stage's ``lambda_runtime`` decides both the
template's ``Runtime`` and which wheels are zipped. When Chalice must fetch a binary
wheel for that runtime it asks pip for ``--abi cp3XY`` without ``--python-version``, so
pip looks for the packaging Python's version and finds nothing (then Chalice builds the
sdist for the wrong Python); the version is added here. ``make package`` checks the
zipped wheels' tags afterwards (chalicelib/deploy/package.py).
"""
import sys


def main() -> int:
    runtime, arguments = sys.argv[1], sys.argv[2:]
    version = runtime.removeprefix("python")  # "3.12"

    from chalice.config import Config
    from chalice.deploy import packager

    Config.lambda_python_version = property(lambda self: runtime)
    execute = packager.PipRunner._execute

    def execute_for_runtime(self, command, args, *rest, **kwargs):
        if command == "download" and "--abi" in args:
            args = [*args, "--python-version", version]
        return execute(self, command, args, *rest, **kwargs)

    packager.PipRunner._execute = execute_for_runtime
    from chalice.cli import main as chalice_main
    sys.argv = ["chalice", *arguments]
    return chalice_main()


if __name__ == "__main__":
    sys.exit(main())
